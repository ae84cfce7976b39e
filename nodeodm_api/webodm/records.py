"""Reading and writing users, projects and tasks: every query the endpoints make.

Visibility is decided here: a user sees only the projects they own, and a task only
through its project, so every lookup takes the caller and answers None when hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from .db import Database, Project, Task, User


class UserExists(ValueError):
    pass


class Records:
    def __init__(self, db: Database) -> None:
        self.db = db

    # Users ------------------------------------------------------------------------------
    async def add_user(self, username: str, password_hash: str, email: str = "") -> User:
        user = User(username=username, password=password_hash, email=email)
        async with self.db.session() as session:
            session.add(user)
            try:
                await session.commit()
            except IntegrityError:
                raise UserExists(f"User {username!r} already exists") from None
        return user

    async def set_password(self, username: str, password_hash: str) -> bool:
        async with self.db.session() as session:
            user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
            if user is None:
                return False
            user.password = password_hash
            await session.commit()
        return True

    async def user_by_id(self, user_id: Any) -> User | None:
        if not isinstance(user_id, int):
            return None
        async with self.db.session() as session:
            return await session.get(User, user_id)

    async def user_by_name(self, username: str) -> User | None:
        async with self.db.session() as session:
            return (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()

    # Projects ---------------------------------------------------------------------------
    async def projects(self, user: User, filters: dict[str, Any] | None = None,
                       ordering: Sequence[Any] = ()) -> list[Project]:
        query = select(Project).where(Project.owner_id == user.id)
        for key, value in (filters or {}).items():
            query = query.where(getattr(Project, key) == value)
        query = query.order_by(*ordering) if ordering else query.order_by(Project.created_at.desc(), Project.id.desc())
        async with self.db.session() as session:
            return list((await session.execute(query)).scalars())

    async def project(self, user: User | None, project_id: int) -> Project | None:
        async with self.db.session() as session:
            project = await session.get(Project, project_id)
        if project is None or user is None or project.owner_id != user.id:
            return None
        return project

    async def public_project(self, project_id: int) -> Project | None:
        async with self.db.session() as session:
            project = await session.get(Project, project_id)
        return project if project is not None and project.public else None

    async def project_exists(self, project_id: int) -> bool:
        async with self.db.session() as session:
            return await session.get(Project, project_id) is not None

    async def task_ids(self, project_ids: Sequence[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {p: [] for p in project_ids}
        if not project_ids:
            return found
        async with self.db.session() as session:
            rows = await session.execute(select(Task.project_id, Task.id).where(Task.project_id.in_(project_ids)))
            for project_id, task_id in rows:
                found[project_id].append(task_id)
        return found

    async def add_project(self, owner: User, fields: dict[str, Any]) -> Project:
        project = Project(owner_id=owner.id, **fields)
        async with self.db.session() as session:
            session.add(project)
            await session.commit()
        return project

    async def update_project(self, project: Project, fields: dict[str, Any]) -> Project:
        async with self.db.session() as session:
            merged = await session.merge(project)
            for key, value in fields.items():
                setattr(merged, key, value)
            await session.commit()
            return merged

    async def delete_project(self, project: Project) -> list[str]:
        """Delete a project and its tasks; answers the removed tasks' ids (for their folders)."""
        async with self.db.session() as session:
            ids = list((await session.execute(select(Task.id).where(Task.project_id == project.id))).scalars())
            await session.execute(delete(Task).where(Task.project_id == project.id))
            await session.execute(delete(Project).where(Project.id == project.id))
            await session.commit()
        return ids

    # Tasks ------------------------------------------------------------------------------
    async def tasks(self, project: Project, status: int | None = None, ordering: Sequence[Any] = ()) -> list[Task]:
        """A project's tasks, without their consoles (megabytes each, and no list shows them)."""
        query = select(Task).options(defer(Task.console)).where(Task.project_id == project.id)
        if status is not None:
            query = query.where(Task.status == status)
        query = query.order_by(*ordering) if ordering else query.order_by(Task.created_at, Task.id)
        async with self.db.session() as session:
            return list((await session.execute(query)).scalars())

    async def task(self, task_id: str, console: bool = True) -> Task | None:
        async with self.db.session() as session:
            if console:
                return await session.get(Task, task_id)
            query = select(Task).options(defer(Task.console)).where(Task.id == task_id)
            return (await session.execute(query)).scalar_one_or_none()

    async def add_task(self, project: Project, fields: dict[str, Any]) -> Task:
        task = Task(project_id=project.id, **fields)
        async with self.db.session() as session:
            session.add(task)
            await session.commit()
        return task

    async def update_task(self, task_id: str, **fields: Any) -> Task | None:
        async with self.db.session() as session:
            task = await session.get(Task, task_id)
            if task is None:
                return None
            for key, value in fields.items():
                setattr(task, key, value)
            await session.commit()
            return task

    async def settle_task(self, task_id: str, action: int | None, **fields: Any) -> None:
        """`update_task` by the processing, which clears `pending_action` only if it is still
        `action`: an action asked for meanwhile (a cancel during a start) is kept for its turn.
        One UPDATE or two, and no read: the record's console may be megabytes."""
        clear = fields.pop("pending_action", "keep") is None
        async with self.db.session() as session:
            if fields:
                await session.execute(update(Task).where(Task.id == task_id).values(**fields))
            if clear and action is not None:
                same = Task.pending_action == action
                await session.execute(update(Task).where(Task.id == task_id, same).values(pending_action=None))
            await session.commit()

    async def append_console(self, task_id: str, text: str) -> None:
        """Add lines to a task's console in the database, without reading it back."""
        async with self.db.session() as session:
            await session.execute(update(Task).where(Task.id == task_id).values(
                console=case((Task.console == "", text), else_=Task.console + "\n" + text)))
            await session.commit()

    async def delete_task(self, task_id: str) -> None:
        async with self.db.session() as session:
            await session.execute(delete(Task).where(Task.id == task_id))
            await session.commit()

    async def tasks_pending(self, action: int) -> list[Task]:
        async with self.db.session() as session:
            query = select(Task).options(defer(Task.console)).where(Task.pending_action == action)
            return list((await session.execute(query)).scalars())

    async def tasks_running(self, statuses: Sequence[int]) -> list[Task]:
        """Tasks with a flow run, no status yet or one of `statuses`, and no action pending: the ones to follow."""
        query = select(Task).options(defer(Task.console)).where(Task.run_id.is_not(None), Task.pending_action.is_(None),
                                   or_(Task.status.is_(None), Task.status.in_(statuses)))
        async with self.db.session() as session:
            return list((await session.execute(query)).scalars())

    async def tasks_waiting(self) -> list[Task]:
        """Committed tasks that no run has taken yet (a stop came between the commit and the run)."""
        query = select(Task).options(defer(Task.console)).where(Task.run_id.is_(None), Task.status.is_(None),
                                                        Task.partial.is_(False),
                                   Task.pending_action.is_(None))
        async with self.db.session() as session:
            return list((await session.execute(query)).scalars())
