//! The MCPGateway controller: compiles what a gateway selects into its config
//! and runs the gateway Deployment (plus Service, Ingress, PDB, managed Redis).

pub mod build;
mod error;
mod reconcile;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use hangar_api::{
    LabelSelector, MCPGateway, MCPPrompt, MCPResource, MCPServer, MCPServerGroup, MCPTool,
    MCPToolSet,
};
use hangar_compile::{Kind, Member, selector_matches, selects};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

pub use error::Error;

use crate::api::scoped;
use crate::children::{trimmed_controller, watch_owned};
use crate::context::{Context, correlated};
use build::GatewayObjects;

/// What MCPGateway reconciles share.
pub struct GatewayContext {
    pub base: Arc<Context>,
    pub index: Arc<SelectionIndex>,
}

/// What each gateway selected at its last reconcile, so that an object that
/// stops matching a selector (relabelled or deleted) still reaches the
/// gateways that served it.
#[derive(Default)]
pub struct SelectionIndex {
    selected: Mutex<HashMap<ObjectRef<MCPGateway>, BTreeSet<Member>>>,
    /// The selectors of the groups each gateway serves: an MCPServer that
    /// starts matching one joins the gateway's config as a group member.
    group_selectors: Mutex<HashMap<ObjectRef<MCPGateway>, Vec<LabelSelector>>>,
}

impl SelectionIndex {
    fn record(
        &self,
        gateway: ObjectRef<MCPGateway>,
        members: BTreeSet<Member>,
        group_selectors: Vec<LabelSelector>,
    ) {
        self.group_selectors
            .lock()
            .expect("selection index lock")
            .insert(gateway.clone(), group_selectors);
        self.selected
            .lock()
            .expect("selection index lock")
            .insert(gateway, members);
    }

    fn forget(&self, gateway: &ObjectRef<MCPGateway>) {
        self.group_selectors
            .lock()
            .expect("selection index lock")
            .remove(gateway);
        self.selected
            .lock()
            .expect("selection index lock")
            .remove(gateway);
    }

    fn has_group_matching(
        &self,
        gateway: &ObjectRef<MCPGateway>,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        self.group_selectors
            .lock()
            .expect("selection index lock")
            .get(gateway)
            .is_some_and(|selectors| {
                selectors
                    .iter()
                    .any(|selector| selector_matches(selector, labels))
            })
    }

    fn had(&self, gateway: &ObjectRef<MCPGateway>, member: &Member) -> bool {
        self.selected
            .lock()
            .expect("selection index lock")
            .get(gateway)
            .is_some_and(|members| members.contains(member))
    }
}

/// Runs the MCPGateway controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let operator_metrics = ctx.metrics.clone();
    let config = ctx.controller_config();
    let index = Arc::new(SelectionIndex::default());
    let controller =
        trimmed_controller(scoped::<MCPGateway>(&client, namespace)).with_config(config);
    let gateways = controller.store();
    watch_owned(controller, GatewayObjects::KINDS, &ctx, namespace)
        .watches(
            scoped::<MCPTool>(&client, namespace),
            watcher::Config::default(),
            to_gateways(Kind::Tool, &gateways, &index),
        )
        .watches(
            scoped::<MCPToolSet>(&client, namespace),
            watcher::Config::default(),
            to_gateways(Kind::ToolSet, &gateways, &index),
        )
        .watches(
            scoped::<MCPPrompt>(&client, namespace),
            watcher::Config::default(),
            to_gateways(Kind::Prompt, &gateways, &index),
        )
        .watches(
            scoped::<MCPResource>(&client, namespace),
            watcher::Config::default(),
            to_gateways(Kind::Resource, &gateways, &index),
        )
        .watches(
            scoped::<MCPServer>(&client, namespace),
            watcher::Config::default(),
            to_gateways(Kind::Server, &gateways, &index),
        )
        .watches(
            scoped::<MCPServerGroup>(&client, namespace),
            watcher::Config::default(),
            to_gateways(Kind::Group, &gateways, &index),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            correlated(&operator_metrics, reconcile::reconcile),
            error_policy,
            Arc::new(GatewayContext { base: ctx, index }),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "MCPGateway reconcile did not complete");
            }
        })
        .await;
}

/// Maps a changed object to the gateways in its namespace that select it now
/// (by labels, directly or as a member of a group they serve) or served it
/// before the change.
fn to_gateways<K: Resource + ResourceExt>(
    kind: Kind,
    gateways: &Store<MCPGateway>,
    index: &Arc<SelectionIndex>,
) -> impl Fn(K) -> Vec<ObjectRef<MCPGateway>> + Send + Sync + 'static {
    let (gateways, index) = (gateways.clone(), index.clone());
    move |object| {
        let member = (kind, object.name_any());
        gateways
            .state()
            .iter()
            .filter(|gateway| gateway.namespace() == object.namespace())
            .map(|gateway| {
                let reference = ObjectRef::from_obj(&**gateway);
                let selects_now = selects(kind.selector(gateway), object.labels())
                    || (kind == Kind::Server
                        && index.has_group_matching(&reference, object.labels()));
                (reference, selects_now)
            })
            .filter(|(gateway, selects_now)| *selects_now || index.had(gateway, &member))
            .map(|(gateway, _)| gateway)
            .collect()
    }
}

fn error_policy(_gateway: Arc<MCPGateway>, error: &Error, _ctx: Arc<GatewayContext>) -> Action {
    match error {
        Error::CleanupPending(_) => Action::requeue(Duration::from_secs(1)),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}
