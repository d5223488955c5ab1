"""What a consumer does, as the complaint desk sees it: complaints filed (seeded) and notifications sent.

:class:`_MakingComplaints` is the part of :class:`~.complaints.ComplaintDesk` that
creates complaints and their signed, encrypted notifications; the desk serves the
merchant's APIs over them.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import secrets
import string
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .answers import AnswerSigner, json_bytes, rfc3339
from .complaint_requests import ACTION_TYPES, PROBLEM_TYPES, STATES, _Complaint, _HistoryEntry
from .images import consumer_image
from .keys import SandboxKeys


class _MakingComplaints:
    """Seeding complaints and sending their notifications, on the state the desk sets up."""

    mchid: str
    keys: SandboxKeys
    signer: AnswerSigner
    _lock: threading.RLock
    _complaints: dict[str, _Complaint]
    _images: dict[str, tuple[bytes, str]]
    #: The list's order, made again after a complaint is added or forgotten (see ComplaintDesk).
    _listing: list[tuple[dt.date, str, _Complaint]] | None

    def _render(self, complaint: _Complaint) -> dict[str, Any]:
        raise NotImplementedError

    def seed(
        self,
        *,
        complaint_id: str | None,
        state: str,
        problem_type: str,
        problem_description: str,
        complaint_detail: str,
        complainted_mchid: str | None,
        payer_phone: str,
        amount: int,
        out_trade_no: str | None,
        transaction_id: str | None,
        images: int | Sequence[bytes],
        complaint_time: dt.datetime | str | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create one complaint; returns its detail JSON (``extra`` fields set over the defaults)."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, not {problem_type!r}")
        if isinstance(complaint_time, dt.datetime):
            when = rfc3339(complaint_time)
        elif complaint_time is None:
            when = rfc3339(dt.datetime.now(dt.UTC))
        else:
            when = rfc3339(dt.datetime.fromisoformat(complaint_time))
        complaint_id = complaint_id or "2002" + "".join(secrets.choice(string.digits) for _ in range(23))
        image_data = self._seed_images(images)
        detail: dict[str, Any] = {
            "complaint_id": complaint_id,
            "complaint_time": when,
            "complaint_detail": complaint_detail,
            "complaint_state": state,
            "complainted_mchid": str(complainted_mchid or self.mchid),
            "payer_phone": self.encrypt_for_merchant(payer_phone),
            "payer_openid": "o" + base64.urlsafe_b64encode(secrets.token_bytes(20)).decode("ascii")[:27],
            "problem_description": problem_description,
            "problem_type": problem_type,
            "complaint_order_info": [
                {
                    "transaction_id": transaction_id
                    or "4200" + "".join(secrets.choice(string.digits) for _ in range(24)),
                    "out_trade_no": out_trade_no or "SANDBOX" + secrets.token_hex(8).upper(),
                    "amount": amount,
                }
            ],
            "complaint_full_refunded": False,
            "incoming_user_response": False,
            "user_complaint_times": 1,
            "user_tag_list": [],
            "need_immediate_service": False,
            "in_platform_service": False,
            "is_agent_mode": False,
        }
        if problem_type == "REFUND":
            detail["apply_refund_amount"] = amount
        detail.update(copy.deepcopy(dict(extra or {})))
        complaint = _Complaint(detail=detail, image_ids=[])
        with self._lock:
            if complaint_id in self._complaints:
                raise ValueError(f"complaint {complaint_id!r} exists already")
            for data, content_type in image_data:
                media_id = self._new_image_id()
                self._images[media_id] = (data, content_type)
                complaint.image_ids.append(media_id)
            complaint.history.append(
                _HistoryEntry(
                    log_id=self._log_id(),
                    operator="投诉人",
                    operate_time=when,
                    operate_type="USER_CREATE_COMPLAINT",
                    operate_details=complaint_detail,
                    media_ids=list(complaint.image_ids),
                )
            )
            self._complaints[complaint_id] = complaint
            self._listing = None
            return self._render(complaint)

    def _seed_images(self, images: int | Sequence[bytes]) -> list[tuple[bytes, str]]:
        if isinstance(images, int):
            if not 0 <= images <= 9:
                raise ValueError("images must be 0 to 9 (or a list of PNG/JPEG bytes)")
            return [consumer_image(i)[:2] for i in range(images)]
        result = []
        for data in images:
            if data.startswith(b"\x89PNG\r\n\x1a\n"):
                result.append((bytes(data), "image/png"))
            elif data.startswith(b"\xff\xd8\xff"):
                result.append((bytes(data), "image/jpeg"))
            else:
                raise ValueError("consumer images must be PNG or JPEG bytes")
        return result

    def _new_image_id(self) -> str:
        # WeChat's ids are base64 text: "==" and sometimes "+" or "/" must be percent-encoded in URLs.
        while True:
            media_id = base64.b64encode(secrets.token_bytes(28)).decode("ascii")
            if media_id not in self._images:
                return media_id

    @staticmethod
    def _log_id() -> str:
        return "".join(secrets.choice(string.digits) for _ in range(20))

    def encrypt_for_merchant(self, text: str) -> str:
        """RSA-OAEP (SHA-1, as WeChat Pay's sensitive fields) with the merchant's public key, base64."""
        ciphertext = self.keys.merchant_public_key.encrypt(
            text.encode("utf-8"),
            padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303 - WeChat Pay's OAEP hash
        )
        return base64.b64encode(ciphertext).decode("ascii")

    def notification(
        self,
        complaint_id: str,
        action_type: str = "CREATE_COMPLAINT",
        *,
        event_type: str | None = None,
        notification_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Signed headers and the JSON body of one complaint notification.

        The resource ``{complaint_id, action_type}`` is encrypted with AEAD_AES_256_GCM
        under the APIv3 key; the headers sign ``timestamp`` (default: now).
        """
        if action_type not in ACTION_TYPES:
            raise ValueError(f"action_type must be one of {', '.join(ACTION_TYPES)}, not {action_type!r}")
        if event_type is None:
            event_type = "COMPLAINT.CREATE" if action_type == "CREATE_COMPLAINT" else "COMPLAINT.STATE_CHANGE"
        nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
        associated_data = "complaint"
        plaintext = json_bytes({"complaint_id": complaint_id, "action_type": action_type})
        ciphertext = AESGCM(self.keys.apiv3_key.encode("ascii")).encrypt(
            nonce.encode("ascii"), plaintext, associated_data.encode("ascii")
        )
        body = json_bytes(
            {
                "id": notification_id or str(uuid.uuid4()),
                "create_time": rfc3339(dt.datetime.now(dt.UTC)),
                "event_type": event_type,
                "resource_type": "encrypt-resource",
                "summary": "投诉单新建通知" if event_type == "COMPLAINT.CREATE" else "投诉单状态变更通知",
                "resource": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "original_type": "complaint",
                    "associated_data": associated_data,
                    "nonce": nonce,
                    "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
                },
            }
        )
        serial, key = self.signer.key_for({})
        headers = dict(
            self.signer.signature_headers(
                body, serial, key, timestamp=int(time.time()) if timestamp is None else timestamp
            )
        )
        headers["Content-Type"] = "application/json"
        return headers, body
