"""Two processes append to the same audit chains at once on PostgreSQL; the chains stay one
unbroken sequence each and verify clean."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from gesso.governance.audit_log import AuditLog, verify_stored_chains
from gesso.store.database import open_database

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gesso.governance.audit_log import AuditLog
    from gesso.store.database import open_database

    url, keys, name, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    log = AuditLog(open_database(url), keys, checkpoint_every=7)
    for i in range(count):
        log.append(tenant="t-a" if i % 2 else "t-b", actor=name, action="test.write", details={"i": i})
    print("done", name)
    """
)


def test_two_processes_append_concurrently_and_the_chains_verify(tmp_path: Path, postgres_url: str) -> None:
    keys = tmp_path / "keys"
    AuditLog(open_database(postgres_url), keys).append(tenant=None, actor="setup", action="test.start")
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, str(keys), f"w{n}", "60"], stdout=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    outputs = [writer.communicate(timeout=240)[0] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outputs

    sessions = open_database(postgres_url)
    log = AuditLog(sessions, keys)
    with sessions() as session:
        results = verify_stored_chains(session, log.signing_key.public_key())
    by_chain = {result.chain: result.report for result in results}
    assert set(by_chain) == {"t-a", "t-b", "deployment"}
    for chain in ("t-a", "t-b"):
        report = by_chain[chain]
        assert report.ok, (chain, report)
        assert report.records_checked == 60  # 30 from each writer, none lost, none forked
        assert report.last_signed_seq is not None
