{{
    staging_config(
        ['shop_domain', 'message_id'],
        indexes=[{'columns': key_index(['shop_domain', 'conversation_id'])}],
    )
}}

with

facts as (
    {{ latest_facts('chatwoot.messages', ['message_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.id') }} as message_id,
        {{ checked_bigint(chatwoot_message_conversation_id('payload')) }} as conversation_id,
        {{ safe_bigint(json_text('payload.account', 'id')) }} as account_id,
        {{ safe_bigint(json_text('payload.inbox', 'id')) }} as inbox_id,
        {{ safe_string('payload.message_type') }} as message_type,
        {{ safe_string('payload.content_type') }} as content_type,
        coalesce({{ safe_boolean('payload.private') }}, false) as is_private,
        {{ safe_string(json_text('payload.sender', 'type')) }} as sender_type,
        {{ safe_bigint(json_text('payload.sender', 'id')) }} as sender_id,
        {{ checked_unix_or_iso('payload.created_at') }} as created_at,
        {{ checked_integer(chatwoot_csat_rating_text('payload')) }} as csat_rating,
        {{ safe_string('payload.event') }} as last_event
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['id', 'text'], ['conversation', 'jsonb'], ['account', 'jsonb'], ['inbox', 'jsonb'],
        ['message_type', 'text'], ['content_type', 'text'], ['content_attributes', 'jsonb'],
        ['private', 'text'], ['sender', 'jsonb'], ['created_at', 'text'], ['event', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final
