from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base
from server.timeutil import utcnow
from server.types import EnumText, JsonType, UtcDateTime


class FormState(StrEnum):
    OPEN = "open"
    CLOSING = "closing"  # listed for phones no more; submissions still accepted
    CLOSED = "closed"  # submissions refused


FORM_STATES = tuple(FormState)


class XForm(Base):
    __tablename__ = "xform"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[FormState] = mapped_column(EnumText(FormState, 10), default=FormState.OPEN)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # No foreign key: xform and xform_version would reference each other, which SQLite's
    # migrations cannot create. The publish service is the only writer.
    current_version_id: Mapped[int | None] = mapped_column(Integer, default=None)

    versions: Mapped[list[XFormVersion]] = relationship(
        back_populates="xform", foreign_keys="XFormVersion.xform_id", order_by="XFormVersion.id"
    )
    current_version: Mapped[XFormVersion | None] = relationship(
        primaryjoin="foreign(XForm.current_version_id) == XFormVersion.id",
        post_update=True,
        viewonly=True,
    )


class XFormVersion(Base):
    __tablename__ = "xform_version"
    __table_args__ = (UniqueConstraint("xform_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    xform_id: Mapped[int] = mapped_column(ForeignKey("xform.id"))
    version: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    # The XForm exactly as served to devices; md5 is over these bytes (UTF-8).
    xml: Mapped[str] = mapped_column(Text)
    md5: Mapped[str] = mapped_column(String(32))
    source_filename: Mapped[str] = mapped_column(String(255), default="")
    source_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"), default=None)
    # FormDefinition as JSON, so submissions and exports need not re-read the XForm.
    definition: Mapped[dict[str, Any]] = mapped_column(JsonType)
    warnings: Mapped[list[str]] = mapped_column(JsonType, default=list)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    xform: Mapped[XForm] = relationship(back_populates="versions", foreign_keys=[xform_id])
    attachments: Mapped[list[FormAttachment]] = relationship(
        back_populates="version", order_by="FormAttachment.name"
    )


class FormAttachment(Base):
    """A file the form refers to: uploaded media, or a list the server generates."""

    __tablename__ = "form_attachment"
    __table_args__ = (UniqueConstraint("version_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("xform_version.id"))
    name: Mapped[str] = mapped_column(String(255))
    # file: bytes uploaded at publish; entity_list / generated: built per request by the server
    kind: Mapped[str] = mapped_column(String(20), default="file")
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"), default=None)
    md5: Mapped[str | None] = mapped_column(String(32), default=None)
    size: Mapped[int | None] = mapped_column(Integer, default=None)

    version: Mapped[XFormVersion] = relationship(back_populates="attachments")
