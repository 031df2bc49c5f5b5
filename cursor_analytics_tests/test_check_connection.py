"""`cursor-analytics check-connection`: every failure is diagnosed in one line with its own exit
code, against real servers on loopback (the simulator, a refused port, a self-signed TLS server, a
socket that never answers) and a name under `.invalid`; a good key gets each dataset's access and
a suggested start date."""

import datetime as dt
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cursor_analytics.cli import CHECK_EXIT_CODES, main
from cursor_analytics.simulator import Faults

GOOD_FORM = "crsr_" + "0" * 40


def check(base_url: str, key: str, *extra: str):
    result = CliRunner().invoke(
        main, ["check-connection", "--base-url", base_url, *extra], env={"CURSOR_API_KEY": key}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_one_line(result, status: str, *words: str) -> str:
    """The diagnosis: exactly one line, no traceback, the status's own exit code."""
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"{status}: ") and "Traceback" not in result.output
    assert result.exit_code == CHECK_EXIT_CODES[status]
    for word in words:
        assert word in lines[0]
    return lines[0]


@pytest.fixture
def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def self_signed_server(tmp_path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate no CA signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed at teardown
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refuses the certificate mid-handshake

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    thread.join(timeout=5)


def test_a_good_key_lists_each_datasets_access_and_suggests_a_start_date(make_sim):
    sim = make_sim(users=4, days=40, enterprise=False)
    result = check(sim.base_url, sim.api_key)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ok: ") and "a team of 4 members" in lines[0]
    access = dict(line.split(None, 1) for line in lines[1:-1])
    assert access["daily_usage"] == access["usage_events"] == access["team_members"] == "readable"
    assert access["ai_commits"] == access["audit_logs"] == "unavailable (403 Enterprise access required)"
    assert access["analytics_dau"].startswith("unavailable (403")
    days = [sim.team.first_day + dt.timedelta(days=i) for i in range(sim.team.days)]
    first = min(d for d in days if any(u.active for u in sim.team.user_days(d)))
    assert lines[-1].endswith(
        f"export CURSOR_ANALYTICS_START_DATE={first.isoformat()} (partitions start there)."
    )


def test_a_key_with_a_space_or_a_stray_character_is_refused_before_any_request(sim):
    for key in (GOOD_FORM[:20] + " " + GOOD_FORM[20:], GOOD_FORM + "\n", GOOD_FORM + "$", "sk-" + "0" * 40):
        line = assert_one_line(check(sim.base_url, key), "malformed_key", "No request was sent")
        assert key.strip() not in line
    assert sim.request_count() == 0


def test_a_wrong_key_is_invalid_credentials(sim):
    assert_one_line(
        check(sim.base_url, "crsr_not-the-key"), "invalid_credentials", "HTTP 401", "CURSOR_API_KEY"
    )


def test_a_key_that_reads_nothing_is_no_resources(sim):
    assert_one_line(check(sim.base_url, sim.no_access_key), "no_resources", "403")


def test_a_base_url_with_a_path_is_not_found(sim):
    assert_one_line(check(sim.base_url + "/v1", sim.api_key), "not_found", "404", "https://api.cursor.com")


def test_a_spent_rate_limit_is_rate_limited(sim):
    sim.faults = Faults(rate_limit_rate=1.0, retry_after=30)
    assert_one_line(check(sim.base_url, sim.api_key), "rate_limited", "429", "wait 30 s")


def test_a_failing_server_is_server_error(sim):
    sim.faults = Faults(error_rate=1.0)
    assert_one_line(check(sim.base_url, sim.api_key), "server_error", "HTTP 500", "status.cursor.com")
    assert sim.request_count() == 1  # a diagnosis, not a retried load


def test_a_host_that_does_not_resolve_is_dns():
    assert_one_line(check("http://cursor-api.invalid", GOOD_FORM), "dns", "cursor-api.invalid", "DNS")


def test_a_port_nobody_listens_on_is_refused(refused_port):
    assert_one_line(
        check(f"http://127.0.0.1:{refused_port}", GOOD_FORM), "refused", f"127.0.0.1:{refused_port}"
    )


def test_a_certificate_no_ca_signed_is_tls(self_signed_server):
    assert_one_line(check(self_signed_server, GOOD_FORM), "tls", "certificate")


def test_a_server_that_never_answers_is_timeout(silent_server):
    assert_one_line(check(silent_server, GOOD_FORM, "--timeout", "0.2"), "timeout", "timeout")


def test_the_real_command_prints_one_line_on_a_refused_port(refused_port):
    """As a user runs it: a fresh process, its logging and warnings as they are."""
    done = subprocess.run(
        [sys.executable, "-m", "cursor_analytics.cli", "check-connection", "--base-url", f"http://127.0.0.1:{refused_port}"],
        env={"CURSOR_API_KEY": GOOD_FORM, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == CHECK_EXIT_CODES["refused"]
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("refused: ")
