"""Standard tokens: people's JWTs with key rotation, the per-call internal credential, an OIDC provider."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from services.common.auth import SYSTEM, Identity, derive_key, make_user_identity
from services.common.errors import Unauthenticated, Unavailable
from services.common.tokens import (
    AUDIENCE,
    INTERNAL_ISSUER,
    ISSUER,
    KeyRing,
    OidcVerifier,
    TokenKeys,
    bearer_authenticator,
    hash_request,
    issue_user_token,
    sign_internal,
    verify_bearer,
    verify_internal,
    verify_user_token,
)

SECRET = b"deployment-secret-0123456789abcdef"
OLD_SECRET = b"the-secret-before-the-rotation-0123"
KEYS = TokenKeys.from_secrets(SECRET)
OFFICE = make_user_identity(role="office", unit=None, subject="li")
DEPARTMENT = make_user_identity(role="department", unit="fgj", subject="wang")
METHOD = "/kaohe.tasks.v1.TasksService/CreateTask"
OTHER_METHOD = "/kaohe.tasks.v1.TasksService/CancelTask"


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def _forge(claims: dict[str, Any], *, ring: KeyRing = KEYS.user, kid: str | None = None) -> str:
    """A token signed with a real key of the ring, claims as given."""
    return jwt.encode(
        claims, ring.keys[ring.current], algorithm="HS256", headers={"kid": kid or ring.current}
    )


def _user_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "li",
        "role": "office",
        "unit": "",
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def refusal(call: Any) -> str:
    with pytest.raises(Unauthenticated) as caught:
        call()
    return str(caught.value)


# People's tokens


def test_a_person_token_round_trips_with_the_standard_claims() -> None:
    token = issue_user_token(DEPARTMENT, ring=KEYS.user, ttl_seconds=3600)
    identity = verify_user_token(token, ring=KEYS.user)
    assert (identity.role, identity.unit, identity.subject) == ("department", "fgj", "wang")
    claims = _claims(token)
    assert claims["iss"] == "kaohe" and claims["aud"] == "kaohe-gateway"
    assert claims["exp"] - claims["iat"] == 3600 and identity.expires_at == claims["exp"]
    assert claims["jti"] != _claims(issue_user_token(DEPARTMENT, ring=KEYS.user))["jti"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["kid"] == KEYS.user.current


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "someone-else"}, "其他签发方"),
        ({"aud": "kaohe-tasks"}, "其他接收方"),
        ({"exp": int(time.time()) - 120}, "已过期"),
        ({"iss": None}, "缺少 iss 声明"),
        ({"jti": None}, "缺少 jti 声明"),
        ({"exp": None}, "缺少 exp 声明"),
        ({"role": None}, "缺少 role 声明"),
        ({"role": "admin"}, "角色无法识别"),
        ({"role": "internal"}, "角色无法识别"),
        ({"role": "department", "unit": ""}, "须写明所属单位"),
        ({"iat": int(time.time()) + 3600}, "签发时间在未来"),
    ],
)
def test_a_person_token_with_a_broken_claim_is_refused(overrides: dict[str, Any], message: str) -> None:
    token = _forge(_user_claims(**overrides))
    assert message in refusal(lambda: verify_user_token(token, ring=KEYS.user))


def test_expiry_allows_a_small_leeway_only() -> None:
    now = time.time()
    lately = issue_user_token(OFFICE, ring=KEYS.user, ttl_seconds=60, now=now - 70)
    assert verify_user_token(lately, ring=KEYS.user).role == "office"
    long_ago = issue_user_token(OFFICE, ring=KEYS.user, ttl_seconds=60, now=now - 120)
    assert "已过期" in refusal(lambda: verify_user_token(long_ago, ring=KEYS.user))


def test_a_token_signed_with_another_key_under_our_key_id_is_refused() -> None:
    stranger = TokenKeys.from_secrets(b"another-deployment-secret-0123456789").user
    token = _forge(_user_claims(), ring=stranger, kid=KEYS.user.current)
    assert "签名验证不通过" in refusal(lambda: verify_user_token(token, ring=KEYS.user))


def test_a_tampered_token_is_refused() -> None:
    header, body, signature = issue_user_token(DEPARTMENT, ring=KEYS.user).split(".")
    claims = _claims(f"{header}.{body}.{signature}")
    claims["unit"] = "cwj"
    other_body = jwt.encode(claims, "x" * 32, algorithm="HS256").split(".")[1]
    tampered = f"{header}.{other_body}.{signature}"
    assert "签名验证不通过" in refusal(lambda: verify_user_token(tampered, ring=KEYS.user))


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode(_user_claims(), None, algorithm="none", headers={"kid": KEYS.user.current})
    assert "签名算法不被接受" in refusal(lambda: verify_user_token(unsigned, ring=KEYS.user))


@pytest.mark.parametrize("token", ["", "kh1.abc.def", "a.b.c", "not a token"])
def test_garbage_is_refused_as_malformed(token: str) -> None:
    assert "格式不对" in refusal(lambda: verify_user_token(token, ring=KEYS.user))


def test_a_refusal_never_repeats_the_token() -> None:
    stranger = TokenKeys.from_secrets(b"another-deployment-secret-0123456789").user
    for token in (
        issue_user_token(OFFICE, ring=stranger),
        _forge(_user_claims(aud="x")),
        _forge(_user_claims(), kid="k" * 40),
        issue_user_token(OFFICE, ring=KEYS.user) + "x",
    ):
        message = refusal(lambda token=token: verify_user_token(token, ring=KEYS.user))
        for part in token.split("."):
            assert part not in message
        assert "k" * 40 not in message


def test_rotation_accepts_a_retired_key_signs_with_the_current_and_refuses_an_unknown_one() -> None:
    before = TokenKeys.from_secrets(OLD_SECRET)
    after = TokenKeys.from_secrets(SECRET, retired=[OLD_SECRET])
    old_token = issue_user_token(OFFICE, ring=before.user)
    assert verify_user_token(old_token, ring=after.user).subject == "li"
    new_token = issue_user_token(OFFICE, ring=after.user)
    assert jwt.get_unverified_header(new_token)["kid"] == after.user.current != before.user.current
    assert verify_user_token(new_token, ring=after.user).subject == "li"
    # Once the old secret is dropped from the ring, its tokens stop working.
    assert "签名密钥未知或已停用" in refusal(lambda: verify_user_token(old_token, ring=KEYS.user))
    # A ring that only knows the old secret does not accept what the new one signs.
    assert "签名密钥未知或已停用" in refusal(lambda: verify_user_token(new_token, ring=before.user))


def test_a_ring_with_explicit_ids() -> None:
    ring = KeyRing(current="2026b", keys={"2026a": b"a" * 32, "2026b": b"b" * 32})
    token = issue_user_token(OFFICE, ring=ring)
    assert jwt.get_unverified_header(token)["kid"] == "2026b"
    older = issue_user_token(OFFICE, ring=KeyRing(current="2026a", keys={"2026a": b"a" * 32}))
    assert verify_user_token(older, ring=ring).role == "office"
    with pytest.raises(ValueError, match="current key id"):
        KeyRing(current="2027", keys={"2026a": b"a" * 32})


def test_the_key_id_reveals_nothing_of_the_secret() -> None:
    assert KEYS.user.current not in SECRET.hex() and KEYS.user.current.encode() not in SECRET
    assert KEYS.user.current != KEYS.internal.current


def test_the_old_kh1_tokens_and_the_new_jwts_do_not_share_keys() -> None:
    # The shape of the retired kh1 tokens: prefix, base64 JSON payload, base64 HMAC.
    old = "kh1.eyJyb2xlIjoib2ZmaWNlIn0.c2lnbmF0dXJl"
    assert "格式不对" in refusal(lambda: verify_user_token(old, ring=KEYS.user))
    kh1_keys = {derive_key(SECRET, b"kaohe-user-token"), derive_key(SECRET, b"kaohe-internal-credential")}
    assert set(KEYS.user.keys.values()).isdisjoint(kh1_keys)


# The internal credential


def test_an_internal_credential_carries_the_caller_for_its_method() -> None:
    token = sign_internal(DEPARTMENT, method=METHOD, ring=KEYS.internal)
    identity = verify_internal(token, method=METHOD, ring=KEYS.internal)
    assert (identity.role, identity.unit, identity.subject) == ("department", "fgj", "wang")
    claims = _claims(token)
    assert claims["aud"] == METHOD and claims["iss"] == INTERNAL_ISSUER
    assert claims["exp"] - claims["iat"] == 30 and claims["jti"]
    assert "rqh" not in claims


def test_the_system_identity_passes_between_services() -> None:
    token = sign_internal(SYSTEM, method=METHOD, ring=KEYS.internal)
    assert verify_internal(token, method=METHOD, ring=KEYS.internal) == Identity(
        role="internal", unit="", subject="system", expires_at=_claims(token)["exp"]
    )


def test_an_internal_credential_replayed_on_another_method_is_refused() -> None:
    token = sign_internal(OFFICE, method=METHOD, ring=KEYS.internal)
    assert "其他接收方" in refusal(lambda: verify_internal(token, method=OTHER_METHOD, ring=KEYS.internal))


def test_an_expired_internal_credential_is_refused() -> None:
    token = sign_internal(OFFICE, method=METHOD, ring=KEYS.internal, now=time.time() - 40)
    assert "已过期" in refusal(lambda: verify_internal(token, method=METHOD, ring=KEYS.internal))


def test_a_request_bound_credential_holds_for_that_request_only() -> None:
    request = b"\n\x05title\x12\x03fgj"
    token = sign_internal(OFFICE, method=METHOD, ring=KEYS.internal, request_digest=hash_request(request))
    assert verify_internal(token, method=METHOD, ring=KEYS.internal, request_bytes=request).role == "office"
    other = b"\n\x05title\x12\x03cwj"
    message = refusal(lambda: verify_internal(token, method=METHOD, ring=KEYS.internal, request_bytes=other))
    assert "另一个请求" in message
    message = refusal(lambda: verify_internal(token, method=METHOD, ring=KEYS.internal))
    assert "不符" in message


def test_a_service_may_insist_on_a_request_bound_credential() -> None:
    token = sign_internal(OFFICE, method=METHOD, ring=KEYS.internal)
    message = refusal(
        lambda: verify_internal(
            token, method=METHOD, ring=KEYS.internal, request_bytes=b"x", require_request_hash=True
        )
    )
    assert "没有绑定到它的请求" in message


def test_people_tokens_and_internal_credentials_do_not_pass_for_each_other() -> None:
    person = issue_user_token(OFFICE, ring=KEYS.user)
    internal = sign_internal(OFFICE, method=METHOD, ring=KEYS.internal)
    assert "签名密钥未知或已停用" in refusal(
        lambda: verify_internal(person, method=METHOD, ring=KEYS.internal)
    )
    assert "签名密钥未知或已停用" in refusal(lambda: verify_user_token(internal, ring=KEYS.user))
    # Even under one key, the issuer and audience keep them apart.
    same = KeyRing(current="k", keys={"k": b"k" * 32})
    person = issue_user_token(OFFICE, ring=same)
    assert "其他签发方" in refusal(lambda: verify_internal(person, method=METHOD, ring=same))
    internal = sign_internal(OFFICE, method=METHOD, ring=same)
    assert "其他签发方" in refusal(lambda: verify_user_token(internal, ring=same))


# OIDC


class Provider:
    """A JWKS endpoint on a local port, with the keys a test signs its provider's tokens with."""

    ISSUER = "https://idp.example.gov.cn/realms/county"

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec.public_key()))
        self.jwks = {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
            ]
        }
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                body = json.dumps(provider.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, *, kid: str = "rsa-1", key: Any = None, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.ISSUER, "aud": "kaohe", "sub": "u-1001", "iat": now, "exp": now + 300}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        signing_key = key if key is not None else (self.rsa if algorithm == "RS256" else self.ec)
        return jwt.encode(payload, signing_key, algorithm=algorithm, headers={"kid": kid})

    def verifier(self, **overrides: Any) -> OidcVerifier:
        arguments: dict[str, Any] = {
            "issuer": self.ISSUER,
            "jwks_url": self.url,
            "audience": "kaohe",
            "role_claim": "realm_access.roles",
            "unit_claim": "kaohe_unit",
            "role_map": {"kaohe-office": "office", "kaohe-dept": "department", "staff": "viewer"},
        }
        arguments.update(overrides)
        return OidcVerifier(**arguments)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    served = Provider()
    yield served
    served.close()


def _roles(*names: str) -> dict[str, Any]:
    return {"realm_access": {"roles": list(names)}}


def test_a_provider_token_maps_to_a_kaohe_role(provider: Provider) -> None:
    identity = provider.verifier().verify(provider.token(**_roles("staff", "kaohe-office")))
    assert (identity.role, identity.unit, identity.subject) == ("office", "", "u-1001")


def test_a_provider_department_takes_its_unit_from_the_mapped_claim(provider: Provider) -> None:
    token = provider.token(algorithm="ES256", kid="ec-1", kaohe_unit="fgj", **_roles("kaohe-dept"))
    identity = provider.verifier().verify(token)
    assert (identity.role, identity.unit) == ("department", "fgj")
    without_unit = provider.token(**_roles("kaohe-dept"))
    assert "须写明所属单位" in refusal(lambda: provider.verifier().verify(without_unit))


def test_a_viewer_is_not_bound_to_a_unit_it_claims(provider: Provider) -> None:
    identity = provider.verifier().verify(provider.token(kaohe_unit="fgj", **_roles("staff")))
    assert (identity.role, identity.unit) == ("viewer", "")


def test_a_provider_role_nobody_mapped_grants_nothing(provider: Provider) -> None:
    token = provider.token(**_roles("kaohe-admin"))
    assert "没有赋予任何考核角色" in refusal(lambda: provider.verifier().verify(token))
    assert "没有赋予任何考核角色" in refusal(lambda: provider.verifier().verify(provider.token()))


def test_a_flat_string_role_claim(provider: Provider) -> None:
    verifier = provider.verifier(role_claim="kaohe_role", role_map={"assessor": "supervisor"})
    assert verifier.verify(provider.token(kaohe_role="assessor")).role == "supervisor"


def test_a_provider_token_with_an_unknown_key_id_is_refused(provider: Provider) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = provider.token(kid="rsa-2", key=stranger, **_roles("kaohe-office"))
    assert "不是统一身份认证公布的" in refusal(lambda: provider.verifier().verify(token))


def test_a_provider_token_signed_by_another_key_under_a_published_id_is_refused(provider: Provider) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = provider.token(kid="rsa-1", key=stranger, **_roles("kaohe-office"))
    assert "签名验证不通过" in refusal(lambda: provider.verifier().verify(token))


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"iss": "https://idp.example.gov.cn/realms/other"}, "其他签发方"),
        ({"aud": "another-app"}, "其他接收方"),
        ({"exp": int(time.time()) - 300}, "已过期"),
        ({"sub": None}, "缺少 sub 声明"),
    ],
)
def test_a_provider_token_with_a_broken_claim_is_refused(
    provider: Provider, claims: dict[str, Any], message: str
) -> None:
    token = provider.token(**claims, **_roles("kaohe-office"))
    assert message in refusal(lambda: provider.verifier().verify(token))


def test_a_symmetric_token_under_the_provider_key_id_is_refused(provider: Provider) -> None:
    """The classic confusion: HS256 keyed with the provider's public key."""
    token = jwt.encode(
        {
            "iss": Provider.ISSUER,
            "aud": "kaohe",
            "sub": "x",
            "exp": int(time.time()) + 60,
            **_roles("kaohe-office"),
        },
        "public-key-as-secret-0123456789abcdef",
        algorithm="HS256",
        headers={"kid": "rsa-1"},
    )
    with pytest.raises(Unauthenticated):
        provider.verifier().verify(token)


def test_the_provider_keys_are_fetched_once_and_cached(provider: Provider) -> None:
    verifier = provider.verifier()
    before = provider.fetches
    for _ in range(3):
        verifier.verify(provider.token(**_roles("kaohe-office")))
    verifier.verify(provider.token(algorithm="ES256", kid="ec-1", **_roles("kaohe-office")))
    assert provider.fetches - before == 1


def test_an_unreachable_provider_is_unavailable_not_a_refusal(provider: Provider) -> None:
    verifier = provider.verifier(jwks_url="http://127.0.0.1:9/certs")
    with pytest.raises(Unavailable, match="统一身份认证"):
        verifier.verify(provider.token(**_roles("kaohe-office")))


def test_a_role_map_into_unknown_roles_is_a_configuration_error(provider: Provider) -> None:
    with pytest.raises(ValueError, match="不存在的角色：root"):
        provider.verifier(role_map={"admins": "root"})


def test_the_bearer_door_takes_kaohe_and_provider_tokens(provider: Provider) -> None:
    authenticate = bearer_authenticator(KEYS.user, oidc=provider.verifier())
    own = issue_user_token(DEPARTMENT, ring=KEYS.user)
    assert authenticate({"authorization": f"Bearer {own}"}, METHOD).unit == "fgj"
    theirs = provider.token(**_roles("kaohe-office"))
    assert authenticate({"authorization": f"bearer {theirs}"}, METHOD).role == "office"
    assert "缺少令牌" in refusal(lambda: authenticate({}, METHOD))
    # Without a provider configured, its tokens are somebody else's.
    assert "签名密钥未知或已停用" in refusal(lambda: verify_bearer(theirs, ring=KEYS.user))
