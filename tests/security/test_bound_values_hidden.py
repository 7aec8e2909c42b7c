"""Bound values (e-mails, token hashes, customer data) never reach an error message or a log
line through SQLAlchemy: its engine hides them."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

SECRET = "ana-secret-4711@example.com"


def test_a_failed_statement_does_not_show_its_bound_values(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(DBAPIError) as failed:
        conn.execute(text("SELECT CAST(:email AS text), 1 / 0"), {"email": SECRET})
    message = str(failed.value)
    assert "division by zero" in message  # the real error, with the statement
    assert SECRET not in message
    assert "parameters hidden" in message


def test_logged_statements_do_not_show_their_bound_values(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"),
        engine.connect() as conn,
    ):
        conn.execute(text("SELECT CAST(:email AS text)"), {"email": SECRET})
    assert "SELECT CAST" in caplog.text
    assert SECRET not in caplog.text
