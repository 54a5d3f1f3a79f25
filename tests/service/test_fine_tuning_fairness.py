"""Which fine-tune runs next: interrupted and resumed jobs first, then round-robin by tenant
(the tenant whose last fine-tune started longest ago), oldest job first within a tenant."""

from gesso.store.finetune_records import pick_fairly


def test_a_tenant_with_many_jobs_does_not_starve_the_others():
    queued = [("a1", "acme", 1.0, False), ("a2", "acme", 2.0, False), ("g1", "globex", 3.0, False)]
    # acme ran a fine-tune more recently than globex: globex goes next though its job is newer
    assert pick_fairly(queued, {"acme": 50.0, "globex": 10.0}) == "g1"
    # a tenant that never ran one goes before both
    assert pick_fairly(queued + [("i1", "initech", 9.0, False)], {"acme": 50.0, "globex": 10.0}) == "i1"


def test_round_robin_over_a_whole_queue():
    queued = [(f"a{i}", "acme", float(i), False) for i in range(3)] + [("g0", "globex", 5.0, False)]
    order, last = [], {}
    clock = 100.0
    while queued:
        chosen = pick_fairly(queued, last)
        order.append(chosen)
        tenant = next(row[1] for row in queued if row[0] == chosen)
        clock += 1
        last[tenant] = clock
        queued = [row for row in queued if row[0] != chosen]
    assert order == ["a0", "g0", "a1", "a2"]


def test_started_jobs_resume_before_new_ones():
    queued = [("new", "globex", 1.0, False), ("resumed", "acme", 5.0, True)]
    assert pick_fairly(queued, {"acme": 99.0}) == "resumed"
    assert pick_fairly([], {}) is None
