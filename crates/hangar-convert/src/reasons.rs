//! Reasons given for fields that several source APIs share, so the same
//! field gets the same explanation whichever API it comes from.

pub(crate) const POD_METADATA: &str = "Hangar sets the pod labels and annotations itself";
pub(crate) const ONE_CONTAINER: &str =
    "Hangar's MCPServer pods run the server (and the stdio bridge) only";
pub(crate) const NO_AFFINITY: &str = "Hangar's Services never pin clients to pods; the MCPGateway keeps sessions (in Redis with several replicas)";
pub(crate) const PULL_POLICY: &str =
    "Hangar leaves the pull policy to Kubernetes (Always for :latest, IfNotPresent otherwise)";
pub(crate) const TOOL_FILTER: &str = "Hangar federates every tool of a server; limit who may call which tool with the MCPGateway's spec.auth.authorization rules";
pub(crate) const AUDIT: &str = "Hangar's gateway logs requests as JSON lines with a correlation ID; there is no separate audit log";
pub(crate) const CLIENT_HEADERS: &str = "Hangar never forwards client headers to servers";
pub(crate) const SERVER_CREDENTIALS: &str = "Hangar sends each server the headers and environment its MCPServer names; give credentials there";
pub(crate) const TELEMETRY: &str =
    "Hangar exports traces itself when OTEL_EXPORTER_OTLP_ENDPOINT is set, not per server";
/// A note, not a loss: the field is carried over, but Hangar's defaults go.
pub(crate) const SECURITY_CONTEXT_REPLACES: &str = "spec.securityContext replaces Hangar's restricted container defaults as a whole: a field it leaves out (e.g. readOnlyRootFilesystem, capabilities.drop: [ALL]) is unset";
