"""Two merchants' records, A and B, and the staff who see them (for the scoping tests).

Merchant A's and merchant B's complaints, consumer images, replies (failed, so they
can be sent again), notifications and feedback images, all stored without calling
WeChat Pay; ``agent`` is granted A only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.core.files.base import ContentFile

from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, ComplaintImage, Notification, Reply
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.sandbox.keys import DEFAULT_MCHID
from django_wxpay_media.wechatpay import complaints as wc

from .grants import grant
from .images import png_bytes

MCH_A = "1900000101"
#: The sandbox's own merchant: B's images could really be uploaded, so only the scoping stops it.
MCH_B = DEFAULT_MCHID


@dataclass
class Merchant:
    mchid: str
    complaint: Complaint
    consumer_image: ComplaintImage
    reply: Reply
    reply_image: FeedbackImage
    notification: Notification
    loose_image: FeedbackImage  # a feedback image in no reply

    @property
    def secrets(self) -> list[str]:
        """Text of this merchant's records that another merchant's staff must never read."""
        return [
            self.complaint.complaint_id,
            self.complaint.out_trade_no,
            self.complaint.transaction_id,
            self.notification.notification_id,
            self.loose_image.filename,
            self.reply_image.filename,
        ]


def feedback_image(mchid: str, seed: int, name: str) -> FeedbackImage:
    data = png_bytes(seed)
    image = FeedbackImage(
        filename=name,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type="image/png",
        mchid=mchid,
    )
    image.file.save(name, ContentFile(data), save=False)
    image.save()
    return image


def merchant(letter: str, mchid: str, seed: int) -> Merchant:
    complaint_id = f"20000000000000000{seed:04d}"
    detail = {
        "complaint_id": complaint_id,
        "complaint_time": "2026-11-20T10:00:00+08:00",
        "complaint_detail": f"complaint of merchant {letter}",
        "complaint_state": "PROCESSING",  # every desk action is open: reply, refund decision, complete
        "complainted_mchid": mchid,
        "problem_description": "未收到货",
        "problem_type": "REFUND",
        "apply_refund_amount": 150,
        "complaint_order_info": [
            {"transaction_id": f"42000{seed:04d}", "out_trade_no": f"ORDER-{letter}{seed}", "amount": 300}
        ],
        "complaint_media_list": [],
    }
    complaint = services.store(wc.Complaint.from_json(detail))
    consumer = ComplaintImage(complaint=complaint, media_url=f"https://api.mch.weixin.qq.com/media/{seed}")
    consumer.url_hash = ComplaintImage.hash_url(consumer.media_url)
    consumer.file.save("1.png", ContentFile(png_bytes(seed)), save=False)
    consumer.content_type = "image/png"
    consumer.save()
    reply = Reply.objects.create(
        complaint=complaint, content=f"reply of {letter}", state=Reply.State.FAILED, error_code="PARAM_ERROR"
    )
    reply_image = feedback_image(mchid, seed + 1, f"evidence-{letter}.png")
    reply.images.add(reply_image)
    notification = Notification.objects.create(
        notification_id=f"NOTE-{letter}-{seed}",
        complaint_id=complaint_id,
        event_type="COMPLAINT.CREATE",
        state=Notification.State.HANDLED,
    )
    loose = feedback_image(mchid, seed + 2, f"loose-{letter}.png")
    return Merchant(mchid, complaint, consumer, reply, reply_image, notification, loose)


#: What the agent may do: everything on the desk and with feedback images (delete aside).
AGENT_PERMISSIONS: list[tuple[str, str]] = [
    ("wxpay_complaints", "view_complaint"),
    ("wxpay_complaints", "change_complaint"),  # assignment
    ("wxpay_complaints", "reply_complaint"),
    ("wxpay_complaints", "complete_complaint"),
    ("wxpay_complaints", "decide_refund_complaint"),
    ("wxpay_complaints", "view_payer_phone"),
    ("wxpay_complaints", "view_reply"),
    ("wxpay_complaints", "view_notification"),
    ("wxpay_complaints", "view_savedreply"),
    ("wxpay_complaints", "add_savedreply"),
    ("wxpay_complaints", "change_savedreply"),
    ("django_wxpay_media", "view_feedbackimage"),
    ("django_wxpay_media", "add_feedbackimage"),
    ("django_wxpay_media", "upload_feedbackimage"),
]


def staff_member(username: str, email: str = "") -> User:
    """A staff member with the agent's permissions and no merchant yet."""
    user = User.objects.create_user(username, email=email, password="pw", is_staff=True)
    for app_label, codename in AGENT_PERMISSIONS:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@dataclass
class World:
    a: Merchant
    b: Merchant
    agent: User  # granted A
    boss: User  # superuser

    def group_member_of_b(self) -> Any:
        """A staff member who sees B through a group's grant."""
        user = staff_member("grouped", "grouped@example.com")
        team = Group.objects.create(name="team B")
        grant(MCH_B, group=team)
        user.groups.add(team)
        return user


def build() -> World:
    a = merchant("A", MCH_A, 10)
    b = merchant("B", MCH_B, 20)
    agent = staff_member("agent", "agent@example.com")
    grant(MCH_A, user=agent)
    boss = User.objects.create_superuser("boss", email="boss@example.com", password="pw")
    return World(a, b, agent, boss)
