"""Hard-swish formulations after a 1x1 conv at 16x12x400, float32 and int8, with the TFLite ops each lowers to.

Reproduces research/README.md, "Export layer studies", table 5; run from the repo root:
python research/export/hard_swish_int8.py"""
import sys, os; sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, keras
from vipnas_tf import litert as bm
from vipnas_tf.export import tflite_export as te, lowering as lo
from ai_edge_litert.interpreter import Interpreter
def M(shape, f):
    x=keras.Input(shape); return keras.Model(x, f(x))
S=(16,12,400)
def dwaff(x, w, b, act=None):
    l=keras.layers.DepthwiseConv2D(1, activation=act); y=l(x); l.set_weights([np.full((1,1,x.shape[-1],1), w, np.float32), np.full((x.shape[-1],), b, np.float32)]); return y
def conv(x, act=None):
    l=keras.layers.Conv2D(x.shape[-1],1, activation=act); return l(x)
qs=[('conv+hswish', M(S, lambda x: keras.layers.Activation('hard_swish')(conv(x)))),
    ('conv+relu', M(S, lambda x: conv(x,'relu'))),
    ('conv+x*relu1(dw)', M(S, lambda x: (lambda y: keras.layers.Multiply()([y, keras.layers.ReLU(1.)(dwaff(y,1/6,.5))]))(conv(x)))),
    ('conv+x*relu6(dw)*dw', M(S, lambda x: (lambda y: dwaff(keras.layers.Multiply()([y, keras.layers.ReLU(6.)(dwaff(y,1.,3.))]),1/6,0.))(conv(x)))),
    ('conv+x*hsig', M(S, lambda x: (lambda y: keras.layers.Multiply()([keras.layers.Activation('hard_sigmoid')(y), y]))(conv(x)))),
    ('conv', M(S, lambda x: conv(x))),
]
for prec in ['fp32','int8']:
    fbs=[(n, te.export_quantized(m, 'int8' if prec=='int8' else 'float32')) for n,m in qs]
    rs=[bm.ModelRunner(fb, 1, name=n) for n,fb in fbs]
    ts=bm.measure_interleaved(rs, 30, 2)
    for (n,fb),t in zip(fbs,ts):
        it=Interpreter(model_content=fb); 
        print(prec, n, round(np.median(t)*1e3,3), [o['op_name'] for o in it._get_ops_details()])
