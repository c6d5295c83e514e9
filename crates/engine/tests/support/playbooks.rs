//! Playbooks the engine tests share, over the plugins of
//! [`FakePlugins::standard`](super::FakePlugins::standard).

/// One step per distinct user, whatever number of keys lead to it.
pub const FENCE_USERS: &str = r#"
name = "fence"
owner = "nhi"

[[step]]
id = "fence"
plugin = "aws"
action = "quarantine-user"
for_each = { provider = "aws", kind = "access-key" }
target = { kind = "user", id = "{{ target.attributes.user }}" }
"#;

/// Deactivate each key, then delete it, reason taken from the first step's evidence.
pub const PIPELINE: &str = r#"
name = "pipeline"
owner = "nhi"

[[step]]
id = "deactivate"
plugin = "aws"
action = "deactivate-access-key"
for_each = { provider = "aws", kind = "access-key" }

[[step]]
id = "delete"
needs = ["deactivate"]
plugin = "aws"
action = "delete-access-key"
for_each = { provider = "aws", kind = "access-key" }
params = { reason = "{{ steps.deactivate.evidence.note or \"none\" }}" }
"#;

/// Deactivate each key.
pub const DEACTIVATE: &str = r#"
name = "deactivate"
owner = "nhi"

[[step]]
id = "deactivate"
plugin = "aws"
action = "deactivate-access-key"
"#;

/// Three independent steps; `a` aborts the run when it fails.
pub const ABORTING: &str = r#"
name = "aborting"
owner = "nhi"

[[step]]
id = "a"
plugin = "aws"
action = "deactivate-access-key"
for_each = { provider = "aws", kind = "access-key", attributes = { user = "ci-bot" } }
on_failure = "abort"

[[step]]
id = "b"
plugin = "aws"
action = "deactivate-access-key"
for_each = { provider = "aws", kind = "access-key", attributes = { user = "etl" } }

[[step]]
id = "c"
plugin = "aws"
action = "deactivate-access-key"
for_each = { provider = "aws", kind = "access-key", attributes = { user = "ops" } }
"#;
