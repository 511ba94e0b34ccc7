"""Private keys are checked for what matching them to a certificate needs, without OpenSSL's primality tests."""

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from components.crypto import pem, tls_bundle
from tests import keyfactory as kf


def damaged(**changes) -> str:
    """A PKCS#1 key of the cached test key with some private numbers changed."""
    numbers = kf.rsa_key("damaged").private_numbers()
    fields = {"p": numbers.p, "q": numbers.q, "d": numbers.d, "dmp1": numbers.dmp1, "dmq1": numbers.dmq1,
              "iqmp": numbers.iqmp, "public_numbers": numbers.public_numbers, **changes}
    return kf.key_pem(rsa.RSAPrivateNumbers(**fields).private_key(unsafe_skip_rsa_key_validation=True))


@pytest.mark.parametrize("pkcs8", [False, True])
def test_a_sound_key_loads_and_matches_its_certificate(pkcs8):
    pair = kf.pair("damaged", pkcs8=pkcs8)
    key = pem.load_private_key(pair["key"])
    assert pem.key_matches_certificate(key, pem.load_certificate(pair["cert"]))
    assert pem.rsa_numbers_fit(key.private_numbers())


@pytest.mark.parametrize("change", ["iqmp", "dmp1", "dmq1", "d"])
def test_a_key_whose_private_numbers_do_not_fit_is_refused(change):
    numbers = kf.rsa_key("damaged").private_numbers()
    with pytest.raises(pem.PemError, match=r"^holds an RSA private key whose numbers do not fit together \(damaged\)$"):
        pem.load_private_key(damaged(**{change: getattr(numbers, change) + 2}))


def test_a_damaged_or_foreign_key_fails_the_bundle_check():
    cert = kf.issued("homarr.dev.example.org")
    with pytest.raises(tls_bundle.BundleError, match="tls.key holds an RSA private key whose numbers do not fit"):
        tls_bundle.check(kf.pair("damaged")["cert"], damaged(iqmp=kf.rsa_key("damaged").private_numbers().iqmp + 1))
    with pytest.raises(tls_bundle.BundleError, match="tls.key does not match the certificate in tls.crt"):
        tls_bundle.check(cert["tls.crt"], kf.key_pem(kf.rsa_key("damaged")))
