from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base
from server.timeutil import utcnow
from server.types import EnumText, JsonType, UtcDateTime


class ProcessingState(StrEnum):
    """Where a stored submission is in the pipeline (``server.intake``)."""

    PENDING = "pending"  # stored, not merged yet
    APPLIED = "applied"  # merged (its contribution's own state says how)
    FAILED = "failed"  # the merge raised: kept, for ``casework reprocess``
    SKIPPED = "skipped"  # nothing to merge (encrypted, or a form without a case)


class Submission(Base):
    """One version of one filled form, stored as it arrived."""

    __tablename__ = "submission"
    __table_args__ = (
        Index("ix_submission_form_received", "xform_id", "received_at"),
        Index("ix_submission_root_current", "root_instance_id", "is_current"),
        # the forms page's and the API's counts of current submissions, per version
        Index("ix_submission_version_current", "xform_version_id", "is_current"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(255), unique=True)
    # The first instanceID of an edit chain; every version of one record shares it.
    root_instance_id: Mapped[str] = mapped_column(String(255))
    deprecated_id: Mapped[str | None] = mapped_column(String(255), default=None)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    xform_id: Mapped[int] = mapped_column(ForeignKey("xform.id"))
    xform_version_id: Mapped[int] = mapped_column(ForeignKey("xform_version.id"))
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    xml_sha256: Mapped[str] = mapped_column(String(64))
    instance_name: Mapped[str | None] = mapped_column(String(500), default=None)
    # Parsed answers (see submissions.parse.DataNode), derived once at receipt.
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), default=None)
    device_key: Mapped[str | None] = mapped_column(String(255), default=None)  # ?deviceID=
    user_agent: Mapped[str | None] = mapped_column(String(500), default=None)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    review_state: Mapped[str] = mapped_column(String(20), default="received")
    processing_state: Mapped[ProcessingState] = mapped_column(
        EnumText(ProcessingState, 10), default=ProcessingState.PENDING
    )
    processing_error: Mapped[str | None] = mapped_column(Text, default=None)

    attachments: Mapped[list[SubmissionAttachment]] = relationship(
        back_populates="submission", order_by="SubmissionAttachment.name"
    )


class SubmissionAttachment(Base):
    """A file the submission names; ``blob_sha256`` stays empty until a POST supplies it."""

    __tablename__ = "submission_attachment"
    __table_args__ = (UniqueConstraint("submission_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"), default=None)
    size: Mapped[int | None] = mapped_column(Integer, default=None)
    content_type: Mapped[str | None] = mapped_column(String(120), default=None)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    submission: Mapped[Submission] = relationship(back_populates="attachments")
