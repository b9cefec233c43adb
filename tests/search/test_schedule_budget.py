"""The quickstart's T-ViPNet budget stays feasible whatever S-ViPNet the spatial search
returns (a clean-machine run once stopped when it returned the space's smallest)."""
from vipnas_tf.arch import arch_cost, get_space, resolve_arch
from vipnas_tf.pipeline.quickstart import schedule_budget
from vipnas_tf.search.temporal import min_frame_gflops


def test_half_the_key_network_when_there_is_room():
    key = resolve_arch("s_vipnas_mbv3")
    half = 0.5 * arch_cost(key, (64, 64)).paper_gflops
    assert min_frame_gflops("mobilenetv3", key, (64, 64)) < half
    assert schedule_budget(key, "mobilenetv3", (64, 64)) == round(half, 5)


def test_never_below_the_cheapest_frame_network():
    key = get_space("mobilenetv3").min()
    floor = min_frame_gflops("mobilenetv3", key, (64, 64))
    assert floor > 0.5 * arch_cost(key, (64, 64)).paper_gflops  # half would be infeasible
    assert schedule_budget(key, "mobilenetv3", (64, 64)) >= floor
