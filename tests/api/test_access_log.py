"""Secrets that travel in URLs never reach the access log."""

import logging

from threadline.api.access_log import RedactSecrets, redact


def test_rerun_tokens_and_query_keys_are_masked():
    line = (
        'GET /v1/workflow-runs/abc/turns/1/rerun-token/rrt_Zx9-_aB1 HTTP/1.1" 200 '
        "/v1/workflow-runs/ws?token=tl_secret123&x=1&api_key=sk-live-9"
    )
    masked = redact(line)
    assert "rrt_Zx9-_aB1" not in masked and "rrt_***" in masked
    assert "tl_secret123" not in masked and "token=***&x=1" in masked
    assert "sk-live-9" not in masked and "api_key=***" in masked


def test_the_filter_rewrites_uvicorns_access_record():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/x/rerun-token/rrt_secretvalue", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    assert "rrt_secretvalue" not in record.getMessage()
    assert "rrt_***" in record.getMessage()
