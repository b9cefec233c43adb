"""PyTorch twins of mmpose's three published top-down networks, for the import parity test.

Written from the structure of mmpose's sources (backbones `ViPNAS_MobileNetV3`,
`ViPNAS_ResNet`, `ResNet(depth=50)`; heads `ViPNASHead` / `HeatmapHead`; mmcv
`ConvModule`, `HSigmoid`, `HSwish`, `ContextBlock`) with the same module names, so their
`state_dict()` has mmpose's keys. The published hyper-parameters are written out here
(not taken from the project's presets) so that a preset that drifted from mmpose fails.
"""
import torch
from torch import nn

# mmpose ViPNAS_MobileNetV3 defaults (index 0: the stem).
MBV3 = dict(wid=[16, 16, 24, 40, 80, 112, 160], expan=[None, 1, 5, 4, 5, 5, 6], dep=[None, 1, 4, 4, 4, 4, 4],
            ks=[3, 3, 7, 7, 5, 7, 5], group=[None, 8, 120, 20, 100, 280, 240],
            att=[None, True, True, False, True, True, True], stride=[2, 1, 2, 2, 2, 1, 2],
            act=["HSwish", "ReLU", "ReLU", "ReLU", "HSwish", "HSwish", "HSwish"])
# mmpose ViPNAS_ResNet defaults.
RES50 = dict(wid=[48, 80, 160, 304, 608], expan=[None, 1, 1, 1, 1], dep=[None, 4, 6, 7, 3],
             ks=[7, 3, 5, 5, 5], group=[None, 16, 16, 16, 16], att=[None, True, False, True, True])
# torchvision / mmpose ResNet-50: stem 64, stage widths 256..2048, bottleneck expansion 4.
SBL = dict(wid=[64, 256, 512, 1024, 2048], expan=[None, 4, 4, 4, 4], dep=[None, 3, 4, 6, 3],
           ks=[7, 3, 3, 3, 3], group=[None, 1, 1, 1, 1], att=[None, False, False, False, False])


RESIDUAL_GAIN = 0.25


class HSigmoid(nn.Module):
    """mmcv HSigmoid(bias=1.0, divisor=2.0): clamp((x + 1) / 2, 0, 1)."""

    def forward(self, x):
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


class HSwish(nn.Module):
    """mmcv HSwish: x * ReLU6(x + 3) / 6."""

    def forward(self, x):
        return x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


def _act(name):
    return {"ReLU": nn.ReLU(), "HSwish": HSwish(), "HSigmoid": HSigmoid()}[name]


class ConvModule(nn.Module):
    """mmcv ConvModule: conv (bias only without norm) -> BN ('bn') -> activation."""

    def __init__(self, cin, cout, k, stride=1, groups=1, norm=True, act=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=not norm)
        if norm:
            self.bn = nn.BatchNorm2d(cout)
        self.act = _act(act) if act else None

    def forward(self, x):
        x = self.conv(x)
        if hasattr(self, "bn"):
            x = self.bn(x)
        return self.act(x) if self.act is not None else x


class SELayer(nn.Module):
    def __init__(self, channels, ratio=4):
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, int(channels / ratio), 1, norm=False, act="ReLU")
        self.conv2 = ConvModule(int(channels / ratio), channels, 1, norm=False, act="HSigmoid")

    def forward(self, x):
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, mid, k, groups, stride, se, with_expand, act):
        super().__init__()
        self.shortcut = stride == 1 and cin == cout
        self.with_expand = with_expand
        if with_expand:
            self.expand_conv = ConvModule(cin, mid, 1, act=act)
        self.depthwise_conv = ConvModule(mid, mid, k, stride, groups, act=act)
        self.se = SELayer(mid) if se else None
        self.linear_conv = ConvModule(mid, cout, 1)

    def forward(self, x):
        out = self.expand_conv(x) if self.with_expand else x
        out = self.depthwise_conv(out)
        if self.se is not None:
            out = self.se(out)
        out = self.linear_conv(out)
        return x + out if self.shortcut else out


class MobileNetV3Backbone(nn.Module):
    def __init__(self, c=MBV3):
        super().__init__()
        self.conv1 = ConvModule(3, c["wid"][0], c["ks"][0], c["stride"][0], act=c["act"][0])
        self.names = []
        for i in range(1, len(c["dep"])):
            mid = c["wid"][i] * c["expan"][i]
            for j in range(c["dep"][i]):
                block = InvertedResidual(c["wid"][i - 1] if j == 0 else c["wid"][i], c["wid"][i], mid, c["ks"][i],
                                         c["group"][i], c["stride"][i] if j == 0 else 1, c["att"][i],
                                         c["expan"][i] != 1, c["act"][i])
                self.names.append(f"layer{len(self.names) + 1}")
                self.add_module(self.names[-1], block)

    def forward(self, x):
        x = self.conv1(x)
        for n in self.names:
            x = getattr(self, n)(x)
        return x


class ContextBlock(nn.Module):
    """mmcv ContextBlock(pooling_type='att', fusion_types=('channel_add',))."""

    def __init__(self, c, ratio):
        super().__init__()
        planes = int(c * ratio)
        self.conv_mask = nn.Conv2d(c, 1, 1)
        self.softmax = nn.Softmax(dim=2)
        self.channel_add_conv = nn.Sequential(nn.Conv2d(c, planes, 1), nn.LayerNorm([planes, 1, 1]), nn.ReLU(),
                                              nn.Conv2d(planes, c, 1))

    def forward(self, x):
        n, c, h, w = x.shape
        mask = self.softmax(self.conv_mask(x).view(n, 1, h * w)).unsqueeze(-1)  # [N, 1, HW, 1]
        context = torch.matmul(x.view(n, 1, c, h * w), mask).view(n, c, 1, 1)
        return x + self.channel_add_conv(context)


class Bottleneck(nn.Module):
    """mmpose ViPNAS_Bottleneck / ResNet Bottleneck (style 'pytorch': stride on conv2)."""

    def __init__(self, cin, cout, expansion, stride, k, groups, attention, downsample):
        super().__init__()
        mid = cout // expansion
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, k, stride, k // 2, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.attention = ContextBlock(cout, max(1.0 / 16, 16.0 / cout)) if attention else None
        self.downsample = downsample
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attention is not None:
            out = self.attention(out)
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class ResNetBackbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(3, c["wid"][0], c["ks"][0], 2, c["ks"][0] // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(c["wid"][0])
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = c["wid"][0]
        for i in range(1, 5):
            stride = 1 if i == 1 else 2
            cout = c["wid"][i]
            blocks = []
            for j in range(c["dep"][i]):
                down = None
                if j == 0 and (stride != 1 or cin != cout):
                    down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                blocks.append(Bottleneck(cin if j == 0 else cout, cout, c["expan"][i], stride if j == 0 else 1,
                                         c["ks"][i], c["group"][i], c["att"][i], down))
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            cin = cout

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x


class HeatmapHead(nn.Module):
    """mmpose HeatmapHead / ViPNASHead: [ConvTranspose2d(k4, s2, p1, groups), BN, ReLU] x 3,
    then a 1x1 conv to 17 heatmaps."""

    def __init__(self, cin, width, groups, num_keypoints=17):
        super().__init__()
        layers = []
        for _ in range(3):
            layers += [nn.ConvTranspose2d(cin, width, 4, 2, 1, output_padding=0, groups=groups, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU()]
            cin = width
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(width, num_keypoints, 1)

    def forward(self, x):
        return self.final_layer(self.deconv_layers(x))


class TopDown(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        return self.head(self.backbone(x))


def build_twin(name):
    if name == "s_vipnas_mbv3":
        return TopDown(MobileNetV3Backbone(), HeatmapHead(160, 160, 160))
    if name == "s_vipnas_res50":
        return TopDown(ResNetBackbone(RES50), HeatmapHead(608, 144, 16))
    if name == "sbl_res50":
        return TopDown(ResNetBackbone(SBL), HeatmapHead(2048, 256, 1))
    raise ValueError(name)


@torch.no_grad()
def randomize_and_calibrate(model, images, seed=0):
    """Non-trivial random weights and BN running statistics (from `images`, NCHW
    float32, then moved off them), the heatmap conv scaled so that max |heatmap| is 1.

    Returns (model in eval mode, its heatmaps on `images`, NHWC numpy)."""
    gen = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=gen) * std

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    for m in model.modules():
        if isinstance(m, nn.ConvTranspose2d):
            m.weight.copy_(normal(m.weight.shape, 1.0 / (4 * m.in_channels // m.groups) ** 0.5))
        elif isinstance(m, nn.Conv2d):
            m.weight.copy_(normal(m.weight.shape, 1.0 / m.weight[0].numel() ** 0.5))
            if m.bias is not None:
                m.bias.copy_(normal(m.bias.shape, 0.2))
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            m.weight.copy_(uniform(m.weight.shape, 0.5, 1.5))
            m.bias.copy_(normal(m.bias.shape, 0.2))
    for m in model.modules():
        # Residual branches end small, as in trained networks: a deep random network
        # with full-size branches amplifies float rounding far beyond trained ones.
        if isinstance(m, InvertedResidual) and m.shortcut:
            m.linear_conv.bn.weight.mul_(RESIDUAL_GAIN)
        elif isinstance(m, Bottleneck) and m.downsample is None:
            m.bn3.weight.mul_(RESIDUAL_GAIN)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch -> its statistics
    model.train()
    model(images)
    model.eval()
    for bn in bns:
        # Floor nearly dead channels (as vipnas_tf.models.random_init.calibrate_batch_norm
        # does): 1/sqrt(var) would amplify float rounding, which trained BNs do not do.
        var = torch.maximum(bn.running_var, 0.1 * bn.running_var.mean())
        bn.running_mean.add_(normal(var.shape, 0.05) * var.sqrt())
        bn.running_var.copy_(var * uniform(var.shape, 0.8, 1.25))
        bn.num_batches_tracked.fill_(1000)
    features = model.head.deconv_layers(model.backbone(images))
    peak = float(model.head.final_layer(features).abs().max())
    model.head.final_layer.weight.div_(peak)
    model.head.final_layer.bias.div_(peak)
    return model, model.head.final_layer(features).permute(0, 2, 3, 1).numpy()
