"""Standalone activations and the sub-pixel deconv pieces in float32 and int8 (which int8 ops leave XNNPACK's fast path).

Reproduces the standalone int8 RELU timings of research/README.md, "Export layer studies",
section 4; run from the repo root:
python research/export/int8_falloffs.py"""
import sys, os; sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, keras
from vipnas_tf import litert as bm
from vipnas_tf.export import tflite_export as te, lowering as lo
from ai_edge_litert.interpreter import Interpreter
def M(shape, f):
    x=keras.Input(shape); return keras.Model(x, f(x))
S=(16,12,400)
qs=[('hswish', M(S, lambda x: keras.layers.Activation('hard_swish')(x))),
    ('relu', M(S, lambda x: keras.layers.ReLU()(x))),
    ('x*hsig', M(S, lambda x: keras.layers.Multiply()([x, keras.layers.Activation('hard_sigmoid')(x)]))),
    ('hsig', M(S, lambda x: keras.layers.Activation('hard_sigmoid')(x))),
    ('relu6', M(S, lambda x: keras.layers.ReLU(6.)(x))),
    ('x*relu6', M(S, lambda x: keras.layers.Multiply()([x, keras.layers.ReLU(6.)(x)]))),
]
D=(32,24,160)
w=np.random.rand(4,4,1,160).astype(np.float32)
qs+=[('pad+dw2x2', M(D, lambda x: keras.layers.DepthwiseConv2D(2)(keras.layers.ZeroPadding2D(((1,0),(1,0)))(x)))),
     ('concat4', M(D, lambda x: keras.layers.Concatenate()([keras.layers.DepthwiseConv2D(1)(x) for _ in range(4)]))),
     ('reshape-transpose', M((32,24,640), lambda x: keras.layers.Reshape((64,48,160))(keras.layers.Permute((1,3,2,4,5))(keras.layers.Reshape((32,24,2,2,160))(x))))),
     ('subpixel', M(D, lambda x: lo.grouped_conv2d_transpose_s2k4(x, w, groups=160, method='subpixel'))),
     ('subpixel_fused', M(D, lambda x: lo.grouped_conv2d_transpose_s2k4(x, w, groups=160, method='subpixel_fused'))),
]
for prec in ['fp32','int8']:
    fbs=[(n, te.export_quantized(m, 'int8' if prec=='int8' else 'float32')) for n,m in qs]
    rs=[bm.ModelRunner(fb, 1, name=n) for n,fb in fbs]
    ts=bm.measure_interleaved(rs, 20, 2)
    for (n,fb),t in zip(fbs,ts):
        it=Interpreter(model_content=fb); 
        print(prec, n, round(np.median(t)*1e3,3), [o['op_name'] for o in it._get_ops_details()])
