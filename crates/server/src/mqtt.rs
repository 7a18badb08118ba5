//! Devices over MQTT (DEVICES.md "MQTT access", 004 §4.2.4): the embedded broker and the node's own
//! client of whichever broker is in use.
//!
//! - **Embedded** (`mqtt_listen`, the default): an rmqtt broker in this process. Its hooks let a
//!   device in with username = device id and password = its secret, and let it publish only on
//!   `cyltrace/{its id}/up/…` and subscribe only to `cyltrace/{its id}/down/…`; a message on another
//!   device's topic is refused by the broker (and counted as bad on the publisher).
//! - **External** (`mqtt_url`): Mosquitto or EMQX authenticates devices and enforces the same topic
//!   rule (README: the ACL pattern); the node connects as a client.
//!
//! Either way the node's client (rumqttc) subscribes to `cyltrace/+/up/#`, hands every message to
//! `services::devices::ingest` and publishes the answer (`down/fill_answer`, `down/ack`) after what
//! it answers is committed. Service calls go down through the same client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use cyltrace_domain::devices::up::{self, DownKind};
use rmqtt::codec::v5::SubscribeAckReason;
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;
use rmqtt::types::{AuthResult, PublishAclResult, SubscribeAclResult};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use uuid::Uuid;

use crate::config::MqttMode;
use crate::services::devices::{hub::Downlink, ingest, registry};
use crate::state::AppState;

/// The node's own login on the embedded broker.
const NODE_USER: &str = "$cyltrace-node";

/// A bound embedded broker, not yet serving.
pub struct Broker {
    listener: rmqtt::net::Listener,
    addr: SocketAddr,
    node_password: String,
}

impl Broker {
    /// Takes the embedded broker's port (a taken port stops the start naming `mqtt_listen`).
    pub fn bind(addr: SocketAddr) -> anyhow::Result<Broker> {
        let listener = Builder::new()
            .name("cyltrace/tcp")
            .laddr(addr)
            .allow_anonymous(false)
            .max_packet_size(up::MAX_PAYLOAD as u32 + 1024)
            .bind()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("mqtt_listen {addr}: cannot listen (port taken?)"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| anyhow::anyhow!("mqtt_listen {addr}: {e}"))?;
        let listener = listener
            .tcp()
            .map_err(|e| anyhow::anyhow!("mqtt_listen {addr}: {e}"))?;
        let (password, _) = crate::auth::new_token().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Broker {
            listener,
            addr,
            node_password: password,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves devices until the task is dropped.
    pub async fn serve(self, st: AppState) -> anyhow::Result<()> {
        let scx = ServerContext::new().build().await;
        let register = scx.extends.hook_mgr().register();
        let guard = Arc::new(Guard {
            st,
            node_password: self.node_password,
        });
        for t in [
            Type::ClientAuthenticate,
            Type::MessagePublishCheckAcl,
            Type::ClientSubscribeCheckAcl,
        ] {
            register.add(t, Box::new(GuardHandler(guard.clone()))).await;
        }
        register.start().await;
        MqttServer::new(scx)
            .listener_by_id(self.listener, self.addr.port())
            .build()
            .run()
            .await
            .map_err(|e| anyhow::anyhow!("embedded MQTT broker: {e}"))
    }
}

/// Who may log in, publish and subscribe on the embedded broker.
struct Guard {
    st: AppState,
    node_password: String,
}

struct GuardHandler(Arc<Guard>);

/// `cyltrace/{device}/{dir}/…` is `device`'s own topic in direction `dir`.
fn own_topic(topic: &str, device: &str, dir: &str) -> bool {
    let mut parts = topic.splitn(4, '/');
    parts.next() == Some(up::ROOT)
        && parts.next() == Some(device)
        && parts.next() == Some(dir)
        && parts.next().is_some_and(|rest| !rest.is_empty())
}

impl Guard {
    async fn authenticate(&self, user: Option<&str>, password: Option<&[u8]>) -> bool {
        let (Some(user), Some(password)) = (user, password) else {
            return false;
        };
        let Ok(password) = std::str::from_utf8(password) else {
            return false;
        };
        if user == NODE_USER {
            return password.len() == self.node_password.len()
                && password
                    .bytes()
                    .zip(self.node_password.bytes())
                    .fold(0u8, |a, (x, y)| a | (x ^ y))
                    == 0;
        }
        match Uuid::parse_str(user) {
            Ok(id) => registry::authenticate(&self.st, id, password).await.is_ok(),
            Err(_) => false,
        }
    }

    /// A device publishing elsewhere than its own up topics: refused, and counted as bad on it.
    async fn refuse_publish(&self, user: &str, topic: &str) {
        tracing::warn!(
            device = user,
            topic,
            "MQTT publish on another device's topic refused"
        );
        self.st.metrics.device_messages_bad.inc();
        if let Ok(id) = Uuid::parse_str(user) {
            let a = cyltrace_store::Activity {
                at: self.st.now(),
                up: 1,
                bad: 1,
                ..Default::default()
            };
            if let Err(e) = self.st.store.record_activity(id, &a).await {
                tracing::error!(error = %e, "counting a refused MQTT publish");
            }
        }
    }
}

#[async_trait]
impl Handler for GuardHandler {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        let g = &self.0;
        match param {
            Parameter::ClientAuthenticate(info) => {
                let user = info.username().map(|u| u.to_string());
                let ok = g
                    .authenticate(user.as_deref(), info.password().map(|p| p.as_ref()))
                    .await;
                let res = if ok {
                    AuthResult::Allow(user.as_deref() == Some(NODE_USER), None)
                } else {
                    AuthResult::BadUsernameOrPassword
                };
                (false, Some(HookResult::AuthResult(res)))
            }
            Parameter::MessagePublishCheckAcl(session, publish) => {
                let user = session.id.username_ref().to_owned();
                let topic: &str = &publish.topic;
                let allowed = user == NODE_USER || own_topic(topic, &user, "up");
                if !allowed {
                    g.refuse_publish(&user, topic).await;
                }
                let res = if allowed {
                    PublishAclResult::allow()
                } else {
                    PublishAclResult::rejected(false, Some("只能在本设备的主题上发布".into()))
                };
                (false, Some(HookResult::PublishAclResult(res)))
            }
            Parameter::ClientSubscribeCheckAcl(session, subscribe) => {
                let user = session.id.username_ref();
                let filter: &str = &subscribe.topic_filter;
                let res = if user == NODE_USER || own_topic(filter, user, "down") {
                    SubscribeAclResult::new_success(subscribe.opts.qos(), None)
                } else {
                    SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized)
                };
                (false, Some(HookResult::SubscribeAclResult(res)))
            }
            _ => (true, acc),
        }
    }
}

/// The node's client publishing to devices.
struct ClientDownlink(AsyncClient);

impl Downlink for ClientDownlink {
    fn send(&self, device: Uuid, kind: DownKind, payload: Value) -> Result<(), String> {
        self.0
            .try_publish(
                up::down_topic(device, kind),
                QoS::AtLeastOnce,
                false,
                payload.to_string(),
            )
            .map_err(|e| format!("向设备下发失败：{e}"))
    }
}

/// Where the node's client connects, and as whom.
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl Connection {
    /// The embedded broker's.
    pub fn embedded(b: &Broker) -> Connection {
        Connection {
            host: b.addr.ip().to_string(),
            port: b.addr.port(),
            credentials: Some((NODE_USER.to_owned(), b.node_password.clone())),
        }
    }

    /// The external broker of the configuration, if one is set.
    pub fn external(st: &AppState) -> anyhow::Result<Option<Connection>> {
        Ok(match st.config.mqtt_mode()? {
            MqttMode::External { host, port } => Some(Connection {
                host,
                port,
                credentials: st.config.mqtt_username.clone().map(|u| {
                    (
                        u,
                        st.config
                            .mqtt_password
                            .as_deref()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                }),
            }),
            _ => None,
        })
    }
}

/// Runs the node's client: subscribes (again on every connection), applies each up message and
/// publishes its answer. Reconnects for ever.
pub async fn run_client(st: AppState, c: Connection) {
    let (mut client_id, _) = crate::auth::new_token().unwrap_or_default();
    client_id.truncate(16);
    let mut opts = MqttOptions::new(format!("cyltrace-node-{client_id}"), c.host, c.port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(up::MAX_PAYLOAD + 1024, 1024 * 1024)
        .set_inflight(1000);
    if let Some((u, p)) = c.credentials {
        opts.set_credentials(u, p);
    }
    let (client, mut events) = AsyncClient::new(opts, 10_000);
    st.devices
        .set_downlink(Box::new(ClientDownlink(client.clone())));
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!("MQTT connected; subscribing to device topics");
                if let Err(e) = client.subscribe(up::up_filter(), QoS::AtLeastOnce).await {
                    tracing::error!(error = %e, "MQTT subscribe");
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let st = st.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    on_message(&st, &client, &p.topic, &p.payload).await;
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "MQTT connection lost; reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn publish(client: &AsyncClient, device: Uuid, kind: DownKind, payload: &Value) {
    let topic = up::down_topic(device, kind);
    if let Err(e) = client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
        .await
    {
        tracing::error!(error = %e, %device, "MQTT publish to a device");
    }
}

/// One up message from the broker.
async fn on_message(st: &AppState, client: &AsyncClient, topic: &str, payload: &[u8]) {
    let (device, kind) = match up::parse_up_topic(topic) {
        Ok(x) => x,
        Err(m) => {
            tracing::debug!(topic, reason = m, "MQTT message outside the device topics");
            return;
        }
    };
    let d = match registry::cached(st, device).await {
        Ok(Some(d)) if !d.disabled => d,
        Ok(_) => {
            tracing::debug!(%device, "MQTT message of an unknown or disabled device");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a device");
            return;
        }
    };
    let kind = match kind {
        Ok(k) => k.as_str().to_owned(),
        Err(_) => topic.rsplit('/').next().unwrap_or_default().to_owned(),
    };
    match ingest::handle(st, &d, &kind, payload).await {
        Ok(answer) => {
            if let Some((k, body)) = answer.down {
                publish(client, d.id, k, &body).await;
            }
        }
        Err(refused) => publish(client, d.id, DownKind::Ack, &refused.ack()).await,
    }
}
