"""Networking shared by every outgoing call: the guard for user-given hosts and the
process's long-lived httpx client (see :mod:`app.net.outbound`)."""
