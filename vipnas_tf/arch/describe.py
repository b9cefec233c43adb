"""One-call description of an architecture: space membership and costs."""
from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.presets import preset_name_of, resolve_arch
from vipnas_tf.arch.space import get_space


def conv_costs(arch, input_size=(256, 192)):
    """Layer list of any architecture of a known family (space points or static presets)."""
    space = get_space(arch.space)
    return space.conv_costs(arch, cost_lib.check_input_size(input_size))


def arch_cost(arch, input_size=(256, 192)):
    """`Cost` (macs, params, paper_gflops) of an architecture at `input_size` (H, W)."""
    return cost_lib.total_cost(conv_costs(arch, input_size))


def describe(spec, input_size=(256, 192)):
    """Dict with `arch` (compact string), `space`, `in_space`, `preset`, `macs`,
    `params`, `paper_gflops`, `input_size` for a preset name, JSON path, string or Arch."""
    arch = resolve_arch(spec)
    space = get_space(arch.space)
    try:
        space.validate(arch)
        in_space, reason = True, None
    except ValueError as e:
        in_space, reason = False, str(e)
    c = arch_cost(arch, input_size)
    out = {
        "arch": arch.to_string(),
        "space": arch.space,
        "in_space": in_space,
        "preset": preset_name_of(arch),
        "input_size": list(cost_lib.check_input_size(input_size)),
        **c.to_dict(),
        "gmacs": round(c.macs / 1e9, 4),
        "mparams": round(c.params / 1e6, 3),
    }
    if reason:
        out["outside_space"] = reason
    return out
