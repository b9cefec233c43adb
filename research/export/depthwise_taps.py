"""Depthwise conv latency vs kernel shape (taps) at 64x48x120 output, float32 and int8, 1 thread. Finding: more than 25 taps leaves XNNPACK's unipass kernels (about 15x slower).

Reproduces research/README.md, "Export layer studies", table 2; run from the repo root:
python research/export/depthwise_taps.py"""
import sys, os; sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, keras
from vipnas_tf import litert as bm
from vipnas_tf.export import tflite_export as te
def M(shape, f):
    x=keras.Input(shape); return keras.Model(x, f(x))
qs=[]
for k in [(3,3),(5,5),(3,7),(7,3),(1,7),(7,1),(2,7),(4,7),(4,4),(5,2),(2,5),(6,6),(5,4)]:
    qs.append((f'dw {k}', M((70,54,120), lambda x: keras.layers.DepthwiseConv2D(k, padding='valid')(x))))
for prec in ['fp32','int8']:
    fbs=[(n, te.export_quantized(m, 'int8' if prec=='int8' else 'float32')) for n,m in qs]
    rs=[bm.ModelRunner(fb, 1, name=n) for n,fb in fbs]
    ts=bm.measure_interleaved(rs, 20, 2)
    for (n,fb),t in zip(fbs,ts): print(prec, n, round(np.median(t)*1e3,3))
