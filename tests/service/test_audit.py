"""The audit log detects edited and deleted entries."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from service import audit


def test_chain_verifies_and_detects_tampering(session: Session) -> None:
    for i in range(5):
        audit.record(session, actor="admin", action="test.act", target=str(i), n=i)
    session.commit()
    assert audit.verify(session).ok and audit.verify(session).checked == 5
    session.execute(text("UPDATE audit_log SET target = 'x' WHERE id = 3"))
    session.commit()
    bad = audit.verify(session)
    assert not bad.ok and "entry 3" in bad.problem
    session.execute(text("UPDATE audit_log SET target = '2' WHERE id = 3"))
    session.execute(text("DELETE FROM audit_log WHERE id = 2"))
    session.commit()
    bad = audit.verify(session)
    assert not bad.ok and "entry 3" in bad.problem
