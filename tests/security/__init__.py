"""Security batteries: cross-team access, sandbox escapes, SSRF, secret leaks (`make test-security`)."""
