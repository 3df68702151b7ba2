"""allowed_signers / revoked_keys parsing and `verify`, checked against the real ssh-keygen."""

from __future__ import annotations

import base64
import copy
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aionisd.signing import (
    PAYLOAD_TYPE_PLAYBOOK,
    PAYLOAD_TYPE_REVIEW,
    PublicKey,
    SigningError,
    SigningKey,
    TrustFileError,
    TrustStore,
    Verification,
    generate,
    save_private,
    sign,
    verify,
)
from aionisd.signing.trust import (
    match_pattern_list,
    parse_allowed_signers,
    parse_allowed_signers_line,
    parse_time,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not installed")
PAYLOAD = b'{"schema":"aionis.playbook/v1","name":"release","steps":[{"run":"make"}]}'
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def alice() -> SigningKey:
    return generate("alice@example.com")


@pytest.fixture(scope="module")
def mallory() -> SigningKey:
    return generate("mallory@example.com")


@pytest.fixture
def trust(tmp_path: Path, alice: SigningKey) -> TrustStore:
    store = TrustStore.in_dir(tmp_path)
    store.add("alice@example.com", alice.public)
    return store


def check(envelope: Any, trust: TrustStore, **kw: Any) -> Verification:
    kw.setdefault("expected_type", PAYLOAD_TYPE_PLAYBOOK)
    kw.setdefault("now", T0)
    result = verify(envelope, trust, **kw)
    if not result.ok:
        assert result.reason and "\n" not in result.reason
    return result


def test_good_signature_verifies(alice: SigningKey, trust: TrustStore) -> None:
    result = check(sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice), trust)
    assert result == Verification(True, "alice@example.com", alice.keyid, None, None, PAYLOAD)


@pytest.mark.parametrize("index", [0, len(PAYLOAD) // 2, len(PAYLOAD) - 1])
def test_one_changed_payload_byte_is_a_bad_signature(
    alice: SigningKey, trust: TrustStore, index: int
) -> None:
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    changed = bytearray(PAYLOAD)
    changed[index] ^= 0x01
    env["payload"] = base64.b64encode(bytes(changed)).decode()
    result = check(env, trust)
    assert (result.ok, result.code, result.keyid) == (False, "bad_signature", alice.keyid)
    assert "does not verify" in (result.reason or "")


def test_changed_signature_byte_is_a_bad_signature(alice: SigningKey, trust: TrustStore) -> None:
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[10] ^= 0x80
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    assert check(env, trust).code == "bad_signature"
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig[:-1])).decode()
    assert check(env, trust).code == "bad_signature"


def test_payload_type_is_checked_and_signed(alice: SigningKey, trust: TrustStore) -> None:
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    result = check(env, trust, expected_type=PAYLOAD_TYPE_REVIEW)
    assert (result.ok, result.code) == (False, "wrong_type")
    assert PAYLOAD_TYPE_PLAYBOOK in (result.reason or "")
    relabelled = {**env, "payloadType": PAYLOAD_TYPE_REVIEW}
    assert check(relabelled, trust, expected_type=PAYLOAD_TYPE_PLAYBOOK).code == "wrong_type"
    assert check(relabelled, trust, expected_type=PAYLOAD_TYPE_REVIEW).code == "bad_signature"


@pytest.mark.parametrize("signatures", [[], None])
def test_unsigned(alice: SigningKey, trust: TrustStore, signatures: list[Any] | None) -> None:
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    if signatures is None:
        del env["signatures"]
    else:
        env["signatures"] = signatures
    result = check(env, trust)
    assert (result.ok, result.code, result.reason) == (
        False,
        "unsigned",
        "envelope has no signatures",
    )


def test_untrusted_signer_is_not_a_bad_signature(mallory: SigningKey, trust: TrustStore) -> None:
    result = check(sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, mallory), trust)
    assert (result.ok, result.code, result.keyid, result.signer) == (
        False,
        "untrusted",
        mallory.keyid,
        None,
    )
    assert result.reason == f"signer {mallory.keyid} is not in allowed_signers"


def test_claimed_principal_or_comment_does_not_grant_trust(alice: SigningKey, trust: TrustStore) -> None:
    impostor = SigningKey(generate().private, "alice@example.com")
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, impostor)
    env["signatures"][0]["publicKey"] += " alice@example.com"
    assert check(env, trust).code == "untrusted"


def test_envelope_without_public_key_uses_the_trusted_key(
    alice: SigningKey, mallory: SigningKey, trust: TrustStore
) -> None:
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    del env["signatures"][0]["publicKey"]
    assert check(env, trust).ok
    env2 = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, mallory)
    del env2["signatures"][0]["publicKey"]
    assert check(env2, trust).code == "untrusted"
    env2["signatures"][0]["keyid"] = alice.keyid
    assert check(env2, trust).code == "bad_signature"


def test_keyid_that_disagrees_with_public_key(
    alice: SigningKey, mallory: SigningKey, trust: TrustStore
) -> None:
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, mallory)
    env["signatures"][0]["keyid"] = alice.keyid
    result = check(env, trust)
    assert result.code == "bad_signature"
    assert "does not match" in (result.reason or "")


def test_any_one_good_signature_suffices_and_failures_rank(
    alice: SigningKey, mallory: SigningKey, trust: TrustStore
) -> None:
    good = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    other = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, mallory)
    broken = copy.deepcopy(good)
    broken["signatures"][0]["sig"] = other["signatures"][0]["sig"]
    both = {**good, "signatures": broken["signatures"] + good["signatures"]}
    assert check(both, trust).ok
    mixed = {**good, "signatures": broken["signatures"] + other["signatures"]}
    assert check(mixed, trust).code == "untrusted"


@pytest.mark.parametrize("how", ["key line", "fingerprint", "PublicKey"])
def test_revoked_key(alice: SigningKey, trust: TrustStore, tmp_path: Path, how: str) -> None:
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    arg: dict[str, PublicKey | str] = {
        "key line": alice.public.to_line(),
        "fingerprint": alice.keyid,
        "PublicKey": alice.public,
    }
    assert trust.revoke(arg[how]) == alice.keyid
    assert trust.revoke(arg[how]) == alice.keyid
    assert len((tmp_path / "revoked_keys").read_text().splitlines()) == 1
    for store in (trust, TrustStore.in_dir(tmp_path)):
        result = check(env, store)
        assert (result.ok, result.code, result.keyid) == (False, "revoked", alice.keyid)
        assert result.reason == f"signer {alice.keyid} is revoked (revoked_keys)"
    with pytest.raises(SigningError, match="revoked"):
        trust.add("alice@example.com", alice.public)


def test_revoked_keys_file_written_by_hand(alice: SigningKey, tmp_path: Path) -> None:
    (tmp_path / "revoked_keys").write_text(
        f"# lost laptop\n\n{alice.keyid}\r\nssh-rsa AAAAB3NzaC1yc2E= old\n"
    )
    store = TrustStore.in_dir(tmp_path)
    assert store.is_revoked(alice.keyid)
    assert len(store.revoked) == 2


@pytest.mark.parametrize(
    "line", ["SHA256:short", "not a key", "ssh-ed25519 AAAA*"], ids=["fp", "text", "b64"]
)
def test_bad_revoked_keys_line_fails_closed(tmp_path: Path, line: str) -> None:
    (tmp_path / "revoked_keys").write_text(f"# ok\n{line}\n")
    with pytest.raises(TrustFileError, match=r"revoked_keys:2: "):
        TrustStore.in_dir(tmp_path)
    with pytest.raises(SigningError, match="cannot revoke"):
        TrustStore(tmp_path / "a", tmp_path / "r").revoke(line)


def test_validity_window(alice: SigningKey, tmp_path: Path) -> None:
    store = TrustStore.in_dir(tmp_path)
    start, end = T0, T0 + timedelta(days=30)
    store.add("alice@example.com", alice.public, valid_after=start, valid_before=end)
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    early = check(env, store, now=start - timedelta(seconds=1))
    assert (early.code, early.signer) == ("not_yet_valid", "alice@example.com")
    assert "not valid until 2026-11-24T10:00:00+00:00" in (early.reason or "")
    late = check(env, store, now=end + timedelta(seconds=1))
    assert late.code == "expired"
    assert "expired at 2026-12-24T10:00:00+00:00" in (late.reason or "")
    assert check(env, store, now=start).ok
    assert check(env, store, now=end).ok
    assert check(env, TrustStore.in_dir(tmp_path), now=end + timedelta(seconds=1)).code == "expired"


def test_a_second_entry_with_a_current_window_wins(alice: SigningKey, tmp_path: Path) -> None:
    store = TrustStore.in_dir(tmp_path)
    store.add("old@example.com", alice.public, valid_before=T0 - timedelta(days=1))
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice)
    assert check(env, store).code == "expired"
    store.add("new@example.com", alice.public, valid_after=T0 - timedelta(days=1))
    result = check(env, TrustStore.in_dir(tmp_path))
    assert (result.ok, result.signer) == (True, "new@example.com")


def test_namespaces_restrict_what_a_key_may_sign(alice: SigningKey, tmp_path: Path) -> None:
    store = TrustStore.in_dir(tmp_path)
    store.add("reviewer@example.com", alice.public, namespaces="aionis-review")
    review = sign(b"{}", PAYLOAD_TYPE_REVIEW, alice)
    assert check(review, store, expected_type=PAYLOAD_TYPE_REVIEW).ok
    result = check(sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice), store)
    assert result.code == "untrusted"
    assert "not for namespace aionis-playbook" in (result.reason or "")


def test_cert_authority_lines_do_not_trust_plain_signatures(alice: SigningKey, tmp_path: Path) -> None:
    (tmp_path / "allowed_signers").write_text(f"*@example.com cert-authority {alice.public.to_line()}\n")
    store = TrustStore.in_dir(tmp_path)
    assert store.list()[0].cert_authority
    assert check(sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, alice), store).code == "untrusted"


def test_missing_files_are_an_empty_store(tmp_path: Path) -> None:
    store = TrustStore.load(tmp_path / "nope" / "allowed_signers", tmp_path / "nope" / "revoked")
    assert (store.list(), store.revoked, store.problems) == ([], set(), [])


def test_add_appends_a_line_and_keeps_existing_text(alice: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "allowed_signers"
    path.write_text("# mine\nbob@example.com ssh-rsa AAAAB3NzaC1yc2E=")
    store = TrustStore.in_dir(tmp_path)
    entry = store.add("alice@example.com", alice.public.to_line(), valid_after=T0)
    again = store.add("alice@example.com", alice.public, valid_after=T0)
    assert entry == again
    lines = path.read_text().splitlines()
    assert lines[:2] == ["# mine", "bob@example.com ssh-rsa AAAAB3NzaC1yc2E="]
    assert lines[2] == (f'alice@example.com valid-after="20261124100000Z" {alice.public.to_line()}')
    assert len(lines) == 3
    assert entry.line_no == 3
    assert [e.principals for e in TrustStore.in_dir(tmp_path).list()] == [
        "bob@example.com",
        "alice@example.com",
    ]


@pytest.mark.parametrize("principal", ["", "two words", '"q"', "#x", "a\nb"])
def test_add_refuses_principals_that_would_corrupt_the_file(
    alice: SigningKey, tmp_path: Path, principal: str
) -> None:
    with pytest.raises(SigningError, match="principal"):
        TrustStore.in_dir(tmp_path).add(principal, alice.public)
    assert not (tmp_path / "allowed_signers").exists()


def test_add_refuses_an_empty_window(alice: SigningKey, tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="earlier"):
        TrustStore.in_dir(tmp_path).add("a@b", alice.public, valid_after=T0, valid_before=T0)


# --- allowed_signers syntax -------------------------------------------------------------------

KEY = generate("k@example.com").public
KEY_LINE = KEY.to_line()


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        (f"a@b {KEY_LINE}", {"principals": "a@b"}),
        (f"  a@b,c@d\t{KEY_LINE}  ", {"principals": "a@b,c@d"}),
        (f'"a@b" {KEY_LINE}', {"principals": "a@b"}),
        (f'"odd name@b" {KEY_LINE}', {"principals": "odd name@b"}),
        (f'a@b namespaces="git,aionis-*" {KEY_LINE}', {"namespaces": "git,aionis-*"}),
        (f'a@b NameSpaces="x y" {KEY_LINE}', {"namespaces": "x y"}),
        (f'a@b namespaces="say \\"hi\\"" {KEY_LINE}', {"namespaces": 'say "hi"'}),
        (
            f'a@b cert-authority,valid-after="20260101Z",valid-before="202612312359Z" {KEY_LINE}',
            {
                "cert_authority": True,
                "valid_after": datetime(2026, 1, 1, tzinfo=UTC),
                "valid_before": datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
            },
        ),
        (
            f'a@b valid-after="20260102030405Z" {KEY_LINE}',
            {"valid_after": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
        ),
        (f"a@b {KEY_LINE} trailing comment words", {"principals": "a@b"}),
        (f"a@b {KEY_LINE}\r", {"principals": "a@b"}),
        ("a@b ssh-rsa AAAAB3NzaC1yc2E=", {"key_type": "ssh-rsa", "public_key": None}),
    ],
)
def test_allowed_signers_lines_parse(line: str, expect: dict[str, Any]) -> None:
    entry = parse_allowed_signers_line(line, 7)
    assert entry is not None
    assert entry.line_no == 7
    if entry.key_type == "ssh-ed25519":
        assert entry.keyid == KEY.keyid
        assert entry.public_key == KEY
    for name, value in expect.items():
        assert getattr(entry, name) == value


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("a@b", "missing key"),
        ("a@b ssh-ed25519", "missing key"),
        (f'a@b foo="1" {KEY_LINE}', "unsupported option 'foo'"),
        (f"a@b restrict {KEY_LINE}", "unsupported option 'restrict'"),
        (f"a@b valid-after=20260101 {KEY_LINE}", "double-quoted"),
        (f'a@b namespaces="a",namespaces="b" {KEY_LINE}', 'multiple "namespaces"'),
        (f'a@b namespaces="a {KEY_LINE}', "unterminated quote"),
        (f'a@b valid-after="2026" {KEY_LINE}', "bad timestamp"),
        (f'a@b valid-after="20261301" {KEY_LINE}', "bad timestamp"),
        (f'a@b valid-after="20260101",{KEY_LINE}', "invalid key"),
        (f'"a@b {KEY_LINE}', "unterminated quote in principals"),
        ('a@b namespaces="x"', "missing key"),
        (
            "a@b ssh-ed25519 " + base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x01x").decode(),
            "32 bytes",
        ),
    ],
)
def test_unusable_allowed_signers_lines(line: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_allowed_signers_line(line)


def test_bad_lines_are_skipped_and_reported_with_their_place(tmp_path: Path) -> None:
    text = f"# comment\n\n   # indented comment\nbad line here\na@b {KEY_LINE}\n"
    entries, problems = parse_allowed_signers(text, "as")
    assert [e.line_no for e in entries] == [5]
    assert problems == ["as:4: invalid key 'here'"]
    (tmp_path / "allowed_signers").write_text(text)
    assert TrustStore.in_dir(tmp_path).problems == [f"{tmp_path / 'allowed_signers'}:4: invalid key 'here'"]


def test_pattern_lists() -> None:
    assert match_pattern_list("aionis-*", "aionis-playbook")
    assert match_pattern_list("git,aionis-p?aybook", "aionis-playbook")
    assert not match_pattern_list("git", "aionis-playbook")
    assert not match_pattern_list("*,!aionis-playbook", "aionis-playbook")
    assert not match_pattern_list("aionis-[p]laybook", "aionis-playbook")


@pytest.fixture
def local_tz_plus_0530(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local zone far from UTC (POSIX TZ syntax needs no tzdata), so local and UTC differ."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_tz_plus_0530")
def test_times_without_z_are_local() -> None:
    assert parse_time("20260101") == datetime(2025, 12, 31, 18, 30, tzinfo=UTC)
    assert parse_time("202601010930") == datetime(2026, 1, 1, 4, 0, tzinfo=UTC)
    assert parse_time("20260101093015Z") == datetime(2026, 1, 1, 9, 30, 15, tzinfo=UTC)


# --- differential check against ssh-keygen -Y verify ------------------------------------------

OPTION_CASES = [
    'valid-before="20240101"',
    'valid-after="20240101"',
    'valid-after="20240101Z",valid-before="202401020000Z"',
    'valid-after="202401011200"',
    'namespaces="aionis-*"',
    'namespaces="git,!aionis-p*"',
    'VALID-AFTER="20240101000001Z"',
    "cert-authority",
]
TIMES = [
    "20231231183000Z",
    "20231231235959Z",
    "20240101000000Z",
    "20240101063000Z",
    "20240101120000Z",
    "20240102000000Z",
    "20240102000001Z",
]


def ssh_sign(tmp_path: Path, key: SigningKey) -> None:
    """Sign PAYLOAD with ssh-keygen itself, into `data.sig`."""
    assert SSH_KEYGEN is not None
    save_private(key, tmp_path / "id")
    (tmp_path / "data").write_bytes(PAYLOAD)
    args = ["-q", "-Y", "sign", "-f", "id", "-n", "aionis-playbook", "data"]
    subprocess.run([SSH_KEYGEN, *args], cwd=tmp_path, check=True, capture_output=True, timeout=30)


def ssh_verifies(tmp_path: Path, principal: str, when: str) -> bool:
    """ssh-keygen's own decision on `data.sig` against `allowed_signers` at time `when`."""
    assert SSH_KEYGEN is not None
    args = ["-Y", "verify", "-f", "allowed_signers", "-I", principal, "-n", "aionis-playbook"]
    args += ["-s", "data.sig", f"-Overify-time={when}"]
    done = subprocess.run([SSH_KEYGEN, *args], cwd=tmp_path, input=PAYLOAD, capture_output=True, timeout=30)
    return done.returncode == 0


@needs_ssh_keygen
@pytest.mark.usefixtures("local_tz_plus_0530")
def test_decisions_match_ssh_keygen(tmp_path: Path) -> None:
    key = generate("dev@example.com")
    ssh_sign(tmp_path, key)
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, key)
    disagreements = []
    for options in OPTION_CASES:
        (tmp_path / "allowed_signers").write_text(f"dev@example.com {options} {key.public}\n")
        store = TrustStore.in_dir(tmp_path)
        assert store.problems == []
        for when in TIMES:
            theirs = ssh_verifies(tmp_path, "dev@example.com", when)
            ours = verify(env, store, expected_type=PAYLOAD_TYPE_PLAYBOOK, now=parse_time(when))
            if ours.ok != theirs:
                disagreements.append((options, when, theirs, ours.code))
    assert disagreements == []


@needs_ssh_keygen
def test_lines_written_by_add_are_accepted_by_ssh_keygen(tmp_path: Path) -> None:
    key = generate()
    ssh_sign(tmp_path, key)
    store = TrustStore.in_dir(tmp_path)
    window = {"valid_after": T0, "valid_before": T0 + timedelta(hours=1)}
    store.add("ci@example.com", key.public, **window, namespaces="aionis-*")
    assert ssh_verifies(tmp_path, "ci@example.com", "20261124103000Z")
    assert not ssh_verifies(tmp_path, "ci@example.com", "20261124110001Z")
    assert ssh_verifies(tmp_path, "ci@example.com", "20261124110000Z")
