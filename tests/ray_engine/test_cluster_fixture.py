"""The session's Ray cluster is real: tasks run on its workers with the CPUs it was started with."""

import ray


def test_the_session_cluster_runs_tasks(ray_cluster):
    ray.init(address=ray_cluster.address, ignore_reinit_error=True, log_to_driver=False)
    try:
        assert ray.cluster_resources().get("CPU") == ray_cluster.num_cpus

        @ray.remote(num_cpus=1)
        def square(x: int) -> int:
            return x * x

        assert ray.get([square.remote(i) for i in range(4)]) == [0, 1, 4, 9]
    finally:
        ray.shutdown()
