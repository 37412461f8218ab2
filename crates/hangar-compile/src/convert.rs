//! The API's enums in the config's words. The config format is versioned on
//! its own (camelCase values), so the two are separate types; this is the one
//! place that maps them.

use hangar_config::{ConflictPolicy, HttpMethod, PromptRole, RedisMode, Strategy, Transport};

pub(crate) fn method(method: hangar_api::HttpMethod) -> HttpMethod {
    match method {
        hangar_api::HttpMethod::Get => HttpMethod::Get,
        hangar_api::HttpMethod::Post => HttpMethod::Post,
        hangar_api::HttpMethod::Put => HttpMethod::Put,
        hangar_api::HttpMethod::Patch => HttpMethod::Patch,
        hangar_api::HttpMethod::Delete => HttpMethod::Delete,
    }
}

pub(crate) fn strategy(strategy: hangar_api::Strategy) -> Strategy {
    match strategy {
        hangar_api::Strategy::RoundRobin => Strategy::RoundRobin,
        hangar_api::Strategy::LeastConnections => Strategy::LeastConnections,
        hangar_api::Strategy::Random => Strategy::Random,
        hangar_api::Strategy::Failover => Strategy::Failover,
    }
}

pub(crate) fn transport(transport: hangar_api::Transport) -> Transport {
    match transport {
        hangar_api::Transport::StreamableHttp => Transport::StreamableHttp,
        hangar_api::Transport::Sse => Transport::Sse,
        hangar_api::Transport::Stdio => Transport::Stdio,
    }
}

pub(crate) fn role(role: hangar_api::Role) -> PromptRole {
    match role {
        hangar_api::Role::User => PromptRole::User,
        hangar_api::Role::Assistant => PromptRole::Assistant,
    }
}

pub(crate) fn conflict_policy(policy: hangar_api::ConflictPolicy) -> ConflictPolicy {
    match policy {
        hangar_api::ConflictPolicy::Reject => ConflictPolicy::Reject,
        hangar_api::ConflictPolicy::KeepFirst => ConflictPolicy::KeepFirst,
    }
}

pub(crate) fn redis_mode(mode: hangar_api::RedisMode) -> RedisMode {
    match mode {
        hangar_api::RedisMode::Standalone => RedisMode::Standalone,
        hangar_api::RedisMode::Cluster => RedisMode::Cluster,
    }
}

pub(crate) fn access_default(
    default: hangar_api::AuthorizationDefault,
) -> hangar_config::AccessDefault {
    match default {
        hangar_api::AuthorizationDefault::Allow => hangar_config::AccessDefault::Allow,
        hangar_api::AuthorizationDefault::Deny => hangar_config::AccessDefault::Deny,
    }
}
