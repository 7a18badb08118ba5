//! The routes an axum router serves, read from the router itself, for the suites that walk every
//! route (`tests/openapi.rs`, `tests/authz_matrix.rs`): a route added to any router is walked the
//! day it is added.

use std::collections::{BTreeMap, BTreeSet};

/// A method (upper case) and a path as the router knows it (`/api/v1/orgs/{id}`).
pub type Route = (String, String);

/// The methods an axum `MethodRouter` has a field for (lower case, as in its `Debug` form).
pub const METHODS: [&str; 9] = [
    "get", "head", "delete", "options", "patch", "post", "put", "trace", "connect",
];

/// The (method, path) pairs an axum router routes, read from its `Debug` form, which in axum 0.8.9
/// is
///
/// ```text
/// Router { path_router: PathRouter { routes: {RouteId(3): MethodRouter(MethodRouter { get: BoxedHandler,
///   head: None, delete: None, options: None, patch: None, post: BoxedHandler, put: None, trace: None,
///   connect: None, fallback: …, allow_header: … }), …}, node: Node { paths: {RouteId(3): "/api/v1/orgs", …} } },
///   fallback_router: PathRouter { … }, default_fallback: …, catch_all_fallback: … }
/// ```
///
/// A method is routed when its field is not `None` (a GET route answers HEAD too, without a field
/// of its own). The fallback router (unmatched paths) is not read. Anything this parser does not
/// recognise fails the test rather than being skipped.
pub fn routed(router_debug: &str) -> BTreeSet<Route> {
    let main = router_debug
        .strip_prefix("Router { path_router: PathRouter { routes: {")
        .and_then(|rest| rest.split_once(", fallback_router: PathRouter {"))
        .map(|(main, _)| main)
        .unwrap_or_else(|| panic!("an axum Router's Debug form has changed: {router_debug:.300}"));
    let (routes, node) = main
        .split_once("}, node: Node { paths: {")
        .expect("the route table's Debug form names its node's paths");

    let mut paths = BTreeMap::new();
    for entry in node.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").expect("RouteId(n): \"path\"");
        let path = rest.split('"').next().expect("a quoted path");
        paths.insert(id.to_owned(), path.to_owned());
    }

    let mut out = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for entry in routes.split("RouteId(").skip(1) {
        let (id, endpoint) = entry.split_once("): ").expect("RouteId(n): endpoint");
        ids.insert(id.to_owned());
        let path = paths
            .get(id)
            .unwrap_or_else(|| panic!("route {id} has no path in the node"));
        let fields = endpoint
            .strip_prefix("MethodRouter(MethodRouter { ")
            .unwrap_or_else(|| {
                panic!("{path} is not a method router (a route_service?): {endpoint:.200}")
            });
        let mut any = false;
        for m in METHODS {
            let key = format!("{m}: ");
            let at = fields
                .match_indices(&key)
                .map(|(i, _)| i)
                .find(|&i| i == 0 || fields[..i].ends_with(", "))
                .unwrap_or_else(|| panic!("{path}: no `{m}` field in {fields:.300}"));
            if !fields[at + key.len()..].starts_with("None") {
                out.insert((m.to_uppercase(), path.clone()));
                any = true;
            }
        }
        assert!(any, "{path} routes no method: {fields:.300}");
    }
    let node_ids: BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(
        ids, node_ids,
        "every route has a path and every path a route"
    );
    out
}
