"""revisits: revisit step per link, version details, edit/removal times, article events

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 22:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('article_events',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('article_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_article_events_article_id_articles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_article_events'))
    )
    with op.batch_alter_table('article_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_events_article_id'), ['article_id'], unique=False)

    with op.batch_alter_table('article_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authors', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('changes', sa.JSON(), nullable=True))

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_edited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('discovered_urls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revisit_step', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('discovered_urls', schema=None) as batch_op:
        batch_op.drop_column('revisit_step')

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
        batch_op.drop_column('last_edited_at')

    with op.batch_alter_table('article_versions', schema=None) as batch_op:
        batch_op.drop_column('changes')
        batch_op.drop_column('published_at')
        batch_op.drop_column('authors')

    with op.batch_alter_table('article_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_events_article_id'))

    op.drop_table('article_events')
