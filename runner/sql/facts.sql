-- The app's append-only table of Shopify facts. Production has it already; this creates it for
-- local and test use. Every statement is idempotent.
create table if not exists public.facts (
    id bigint generated always as identity primary key,
    shop_domain text not null,
    topic text not null,
    value jsonb not null,
    created_at timestamptz not null default now()
);

-- Incremental staging reads one topic past a cursor on id.
create index if not exists facts_topic_id_idx on public.facts (topic, id);

-- Source freshness per shop and topic.
create index if not exists facts_shop_topic_created_at_idx
    on public.facts (shop_domain, topic, created_at);
