from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base
from server.timeutil import utcnow
from server.types import UtcDateTime


class Service(Base):
    """One entry of the services directory used for referrals; reaches devices as services.csv."""

    __tablename__ = "service"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    access: Mapped[str] = mapped_column(Text, default="")  # how it can be reached now
    can_visit: Mapped[bool] = mapped_column(Boolean, default=False)
    focal_points: Mapped[str] = mapped_column(Text, default="")  # names and how to reach them
    visiting_teams: Mapped[str] = mapped_column(Text, default="")
    facilities_open: Mapped[str] = mapped_column(Text, default="")
    hours: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[str] = mapped_column(String(300), default="")
    # The kind of agency that provides it (``schemas.AGENCY_KINDS``), which a consent to
    # share information names, and whether it is our own agency (``internal``: a referral
    # there shares nothing outside) or an outside one.
    agency_kind: Mapped[str] = mapped_column(String(40), default="ngo")
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
