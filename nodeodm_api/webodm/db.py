"""The WebODM records' tables (SQLAlchemy 2): users, projects and tasks.

SQLite in the data folder by default, PostgreSQL when given a URL. Extents are kept as
plain JSON lists (EPSG:4326 envelopes) rather than geometries, so no PostGIS is needed.
"""

from __future__ import annotations

import os
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    inspect,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateColumn

DATABASE_ENV = "ODMFLOW_DATABASE_URL"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "webodm_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True, index=True)
    password: Mapped[str] = mapped_column(String(256))
    email: Mapped[str] = mapped_column(String(254), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    date_joined: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Project(Base):
    __tablename__ = "webodm_project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("webodm_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    public_edit: Mapped[bool] = mapped_column(Boolean, default=False)
    public_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Task(Base):
    __tablename__ = "webodm_task"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuidlib.uuid4()))
    project_id: Mapped[int] = mapped_column(ForeignKey("webodm_project.id", ondelete="CASCADE"), index=True)
    processing_node: Mapped[int | None] = mapped_column(Integer, nullable=True)
    auto_processing_node: Mapped[bool] = mapped_column(Boolean, default=True)
    uuid: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    processing_time: Mapped[int] = mapped_column(Integer, default=-1)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    available_assets: Mapped[list[str]] = mapped_column(JSON, default=list)
    console: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    pending_action: Mapped[int | None] = mapped_column(Integer, nullable=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    public_edit: Mapped[bool] = mapped_column(Boolean, default=False)
    resize_to: Mapped[int] = mapped_column(Integer, default=-1)
    upload_progress: Mapped[float] = mapped_column(Float, default=0.0)
    resize_progress: Mapped[float] = mapped_column(Float, default=0.0)
    running_progress: Mapped[float] = mapped_column(Float, default=0.0)
    import_url: Mapped[str] = mapped_column(Text, default="")
    images_count: Mapped[int] = mapped_column(Integer, default=0)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    potree_scene: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    epsg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    wkt: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    orthophoto_bands: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    size: Mapped[float] = mapped_column(Float, default=0.0)
    compacted: Mapped[bool] = mapped_column(Boolean, default=False)
    crop: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    statistics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: EPSG:4326 envelopes, [minlon, minlat, maxlon, maxlat], keyed orthophoto/dsm/dtm.
    extents: Mapped[dict[str, list[float]]] = mapped_column(JSON, default=dict)
    #: The Prefect flow run doing (or that last did) the task's processing.
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


def database_url(data_dir: Path, url: str | None = None) -> str:
    """An async SQLAlchemy URL: the given one (or ODMFLOW_DATABASE_URL), else SQLite in `data_dir`."""
    url = url or os.environ.get(DATABASE_ENV) or f"sqlite:///{(data_dir / 'webodm.db').resolve()}"
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"), ("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


class Database:
    """One engine and its session factory; `open()` creates missing tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def open(self) -> None:
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(_add_missing_columns)

    async def close(self) -> None:
        await self.engine.dispose()


def _add_missing_columns(conn: Connection) -> None:
    """Columns added since a table was created (all nullable) are added to it in place."""
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                ddl = CreateColumn(column).compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
