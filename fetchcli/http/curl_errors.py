"""The one map from a libcurl transfer outcome (a `CURLE_*` code) to an httpx exception.

Every exception made here carries the code as `curl_code` (read it with
`curl_code(exc)`), so that a classifier can tell DNS and TLS failures
apart from other connect errors without parsing messages. Its `__cause__`
is libcurl's own error (a `pycurl.error`), over the Python error it stands
for: `socket.gaierror` for DNS, `ssl.SSLError` for TLS, or the `OSError` of
CURLINFO_OS_ERRNO (ECONNREFUSED, ECONNRESET), as the wire contract asks:

    exc = curl_error(pycurl.E_COULDNT_RESOLVE_HOST, "Could not resolve host: x", connected=False)
    assert isinstance(exc, httpx.ConnectError) and curl_code(exc) in DNS_CODES
"""

from __future__ import annotations

import os
import re
import socket
import ssl

import httpx
import pycurl  # type: ignore[import-untyped]

# The name of the attribute that holds the libcurl code on a mapped exception.
CURL_CODE = "curl_code"

# libcurl codes that pycurl names with an older, FTP-only name, or not at all (curl.h).
E_WEIRD_SERVER_REPLY = 8  # pycurl: E_FTP_WEIRD_SERVER_REPLY; HTTP uses it for a bad status line
E_HTTP2_STREAM = 92
E_RECURSIVE_API_CALL = 93
E_AUTH_ERROR = 94
E_HTTP3 = 95
E_QUIC_CONNECT_ERROR = 96
E_PROXY = 97
E_SSL_CLIENTCERT = 98
E_UNRECOVERABLE_POLL = 99
E_TOO_LARGE = 100
E_ECH_REQUIRED = 101
# Codes defined by curl.h but not by pycurl, for the completeness test.
EXTRA_CODES = (
    E_HTTP2_STREAM,
    E_RECURSIVE_API_CALL,
    E_AUTH_ERROR,
    E_HTTP3,
    E_QUIC_CONNECT_ERROR,
    E_PROXY,
    E_SSL_CLIENTCERT,
    E_UNRECOVERABLE_POLL,
    E_TOO_LARGE,
    E_ECH_REQUIRED,
)

DNS_CODES = frozenset({pycurl.E_COULDNT_RESOLVE_HOST, pycurl.E_COULDNT_RESOLVE_PROXY})
TLS_CODES = frozenset(
    {
        pycurl.E_SSL_CONNECT_ERROR,
        pycurl.E_PEER_FAILED_VERIFICATION,
        pycurl.E_SSL_CIPHER,
        pycurl.E_SSL_CACERT_BADFILE,  # a bad SSL_CERT_FILE or verify= path
        pycurl.E_SSL_SHUTDOWN_FAILED,
        E_SSL_CLIENTCERT,  # the server demands a client certificate
    }
)

ERRORS: dict[int, type[Exception]] = {
    **dict.fromkeys(DNS_CODES, httpx.ConnectError),
    **dict.fromkeys(TLS_CODES, httpx.ConnectError),
    pycurl.E_COULDNT_CONNECT: httpx.ConnectError,
    E_PROXY: httpx.ProxyError,  # a failed CONNECT or SOCKS handshake
    # Split into ConnectTimeout / ReadTimeout by `curl_error` (connected or not).
    pycurl.E_OPERATION_TIMEDOUT: httpx.ReadTimeout,
    # Refused before connecting (a scheme); once connected it is a bad response version.
    pycurl.E_UNSUPPORTED_PROTOCOL: httpx.UnsupportedProtocol,
    pycurl.E_NOT_BUILT_IN: httpx.UnsupportedProtocol,  # e.g. a proxy scheme this build lacks
    pycurl.E_URL_MALFORMAT: httpx.InvalidURL,
    # The response broke the protocol: a bad status line, a body cut short, bad framing.
    E_WEIRD_SERVER_REPLY: httpx.RemoteProtocolError,
    pycurl.E_PARTIAL_FILE: httpx.RemoteProtocolError,
    pycurl.E_GOT_NOTHING: httpx.RemoteProtocolError,
    pycurl.E_HTTP2: httpx.RemoteProtocolError,
    E_HTTP2_STREAM: httpx.RemoteProtocolError,
    E_HTTP3: httpx.RemoteProtocolError,
    E_TOO_LARGE: httpx.RemoteProtocolError,  # response headers past libcurl's limit
    pycurl.E_BAD_CONTENT_ENCODING: httpx.DecodingError,
    # The network failed mid-transfer (a reset); bad chunked framing is refined below.
    pycurl.E_RECV_ERROR: httpx.ReadError,
    pycurl.E_SEND_ERROR: httpx.WriteError,
    # Our own callbacks failed: the body sink (a bug) or the request body source. Never
    # on purpose: an early close or a timeout removes the handle instead of aborting.
    pycurl.E_WRITE_ERROR: httpx.ReadError,
    pycurl.E_READ_ERROR: httpx.WriteError,
    pycurl.E_UPLOAD_FAILED: httpx.WriteError,
    pycurl.E_SEND_FAIL_REWIND: httpx.WriteError,
    pycurl.E_HTTP_POST_ERROR: httpx.WriteError,
    # Local failures with no network outcome to report.
    pycurl.E_FAILED_INIT: httpx.TransportError,
    pycurl.E_OUT_OF_MEMORY: httpx.TransportError,
    E_UNRECOVERABLE_POLL: httpx.TransportError,
}

# Codes a transfer made by CurlTransport cannot end with, each with the reason.
NOT_FOR_HTTP: dict[int, str] = {
    pycurl.E_OK: "success, not an error",
    pycurl.E_HTTP_RETURNED_ERROR: "FAILONERROR is never set",
    pycurl.E_TOO_MANY_REDIRECTS: "FOLLOWLOCATION is never set: httpx follows",
    pycurl.E_ABORTED_BY_CALLBACK: "no progress, xferinfo or prereq callback is set",
    pycurl.E_FILESIZE_EXCEEDED: "MAXFILESIZE is never set: the caller bounds bodies",
    pycurl.E_RANGE_ERROR: "RANGE is never set",
    pycurl.E_BAD_DOWNLOAD_RESUME: "RESUME_FROM is never set",
    pycurl.E_INTERFACE_FAILED: "INTERFACE is never set",
    pycurl.E_NO_CONNECTION_AVAILABLE: "only with CONNECT_ONLY or a share",
    pycurl.E_SHARE_IN_USE: "no share is used",
    pycurl.E_AGAIN: "only from curl_easy_send/recv",
    E_RECURSIVE_API_CALL: "libcurl is never called from inside its callbacks",
    pycurl.E_BAD_FUNCTION_ARGUMENT: "pycurl checks arguments before libcurl sees them",
    pycurl.E_UNKNOWN_OPTION: "returned by setopt (raised there), not by a transfer",
    pycurl.E_TELNET_OPTION_SYNTAX: "SETOPT_OPTION_SYNTAX: returned by setopt",
    E_AUTH_ERROR: "HTTPAUTH is never set: httpx adds Authorization headers",
    pycurl.E_LOGIN_DENIED: "SASL and FTP logins only",
    E_QUIC_CONNECT_ERROR: "HTTP/3 is never requested",
    E_ECH_REQUIRED: "ECH is never enabled",
    pycurl.E_SSL_CERTPROBLEM: "no client certificate is set",
    pycurl.E_SSL_ENGINE_NOTFOUND: "no crypto engine is set",
    pycurl.E_SSL_ENGINE_SETFAILED: "no crypto engine is set",
    pycurl.E_SSL_ENGINE_INITFAILED: "no crypto engine is set",
    pycurl.E_SSL_CRL_BADFILE: "CRLFILE is never set",
    pycurl.E_SSL_ISSUER_ERROR: "ISSUERCERT is never set",
    pycurl.E_SSL_PINNEDPUBKEYNOTMATCH: "PINNEDPUBLICKEY is never set",
    pycurl.E_SSL_INVALIDCERTSTATUS: "SSL_VERIFYSTATUS is never set",
    pycurl.E_USE_SSL_FAILED: "STARTTLS protocols only (FTP, IMAP, ...)",
    pycurl.E_FILE_COULDNT_READ_FILE: "file:// only; PROTOCOLS allows http and https",
    pycurl.E_REMOTE_ACCESS_DENIED: "FTP, SFTP and SMB only",
    pycurl.E_QUOTE_ERROR: "FTP and SFTP QUOTE only",
    pycurl.E_REMOTE_DISK_FULL: "upload protocols other than HTTP only",
    pycurl.E_REMOTE_FILE_EXISTS: "upload protocols other than HTTP only",
    pycurl.E_REMOTE_FILE_NOT_FOUND: "FTP, SFTP and SMB only",
    pycurl.E_SSH: "SCP and SFTP only",
    pycurl.E_CHUNK_FAILED: "FTP wildcard matching only",
    pycurl.E_LDAP_CANNOT_BIND: "LDAP only",
    pycurl.E_LDAP_SEARCH_FAILED: "LDAP only",
    pycurl.E_LDAP_INVALID_URL: "LDAP only",
    pycurl.E_RTSP_CSEQ_ERROR: "RTSP only",
    pycurl.E_RTSP_SESSION_ERROR: "RTSP only",
    pycurl.E_FTP_BAD_FILE_LIST: "FTP only",
    pycurl.E_FTP_PRET_FAILED: "FTP only",
    **dict.fromkeys((10, 11, 12, 13, 14, 15, 17, 19, 30, 31), "FTP only"),
    **dict.fromkeys((68, 69, 71, 72, 74), "TFTP only"),
    **dict.fromkeys((20, 24, 29, 32, 40, 41, 44, 46, 50, 51, 75, 76), "obsolete, never returned"),
    pycurl.E_ALREADY_COMPLETE: "pycurl's own marker, not a libcurl code",
}

# Parts of libcurl's messages that differ from run to run.
_VOLATILE = re.compile(r" after \d+ (?:ms|milliseconds)| 0x[0-9a-fA-F]{8,}|(?<=stream) \d+|#\d+")


def curl_error(
    code: int,
    message: str,
    *,
    connected: bool,
    request: httpx.Request | None = None,
    os_errno: int = 0,
) -> Exception:
    """The httpx exception for a failed transfer; `connected`: the request had been sent."""
    text = _VOLATILE.sub("", " ".join(message.split())) or f"curl error {code}"
    kind = ERRORS.get(code, httpx.TransportError)
    if code == pycurl.E_OPERATION_TIMEDOUT and not connected:
        kind = httpx.ConnectTimeout
    elif code == pycurl.E_UNSUPPORTED_PROTOCOL and connected:
        kind = httpx.RemoteProtocolError  # "Unsupported HTTP/1 subversion in response"
    elif code == pycurl.E_RECV_ERROR and "chunk" in text.lower():
        kind = httpx.RemoteProtocolError  # libcurl reports bad chunked framing as a receive error
    if code in DNS_CODES:
        text = f"DNS lookup failed: {text}"
    if issubclass(kind, httpx.RequestError):
        exc: Exception = kind(text, request=request)
    else:
        exc = kind(text)
    setattr(exc, CURL_CODE, code)
    exc.__cause__ = _cause(code, text, os_errno)
    return exc


class CurlError(pycurl.error):  # type: ignore[misc]
    """libcurl's error for a transfer, as pycurl raises it: args (code, message)."""

    def __str__(self) -> str:
        return str(self.args[1])  # the message alone, as an OSError's strerror reads


def _cause(code: int, text: str, os_errno: int) -> BaseException:
    """libcurl's own error, over the Python error it stands for (so causes can be classified)."""
    original = CurlError(code, text)
    if code in DNS_CODES:
        original.__cause__ = socket.gaierror(socket.EAI_NONAME, text)
    elif code == pycurl.E_PEER_FAILED_VERIFICATION:
        original.__cause__ = ssl.SSLCertVerificationError(1, text)  # 1: SSL_ERROR_SSL
    elif code in TLS_CODES:
        original.__cause__ = ssl.SSLError(1, text)
    elif os_errno:  # CURLINFO_OS_ERRNO: e.g. ECONNREFUSED becomes ConnectionRefusedError
        original.__cause__ = OSError(os_errno, os.strerror(os_errno))
    return original


def curl_code(exc: BaseException) -> int | None:
    """The libcurl code a transport exception came from, if it came from libcurl."""
    code = getattr(exc, CURL_CODE, None)
    return code if isinstance(code, int) else None
