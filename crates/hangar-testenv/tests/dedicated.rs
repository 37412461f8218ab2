//! Dedicated control planes: separate from each other, and gone when dropped.

use hangar_testenv::ControlPlane;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;

#[tokio::test]
async fn dedicated_planes_are_separate_and_stop_when_dropped() {
    let (first, second) = tokio::join!(ControlPlane::start(), ControlPlane::start());
    assert_ne!(first.config().cluster_url, second.config().cluster_url);
    assert_ne!(first.dir(), second.dir());

    let ns = first.namespace().await;
    Api::<Namespace>::all(first.client())
        .get(&ns)
        .await
        .expect("the namespace exists where it was made");
    let elsewhere = Api::<Namespace>::all(second.client())
        .get_opt(&ns)
        .await
        .expect("asking the other plane");
    assert!(
        elsewhere.is_none(),
        "namespace {ns} leaked into the other control plane"
    );

    let dir = first.dir().to_path_buf();
    let client = first.client();
    drop(first);
    assert!(!dir.exists(), "{} survived the drop", dir.display());
    client
        .apiserver_version()
        .await
        .expect_err("the dropped plane's API server still answers");

    second
        .client()
        .apiserver_version()
        .await
        .expect("the other plane keeps running");
}
