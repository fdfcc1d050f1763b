//! A client-side route table for many groups (JRaft's `RouteTable`, F13): each group's
//! configuration and its leader as last learned, refreshed from the servers on demand,
//! and leader rebalancing across servers (JRaft `CliService#rebalance`).
//!
//! The table is plain shared data (a lock around a `BTreeMap`, never held across an
//! await); the refresh calls ask servers that speak [`GroupRequest`]s (`concord serve`),
//! where a peer id is also the address to reach it at.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use concord::core::GroupId;
//! use concord::service::RouteTable;
//! use concord::transport::{PrefaceConnector, TokioConnector, SERVICE_PREFACE};
//!
//! let table = RouteTable::new();
//! let group = GroupId::new("orders")?;
//! table.update_configuration(&group, vec!["127.0.0.1:7001".parse()?, "127.0.0.1:7002".parse()?], vec![]);
//! let connector = PrefaceConnector::new(TokioConnector, SERVICE_PREFACE);
//! let leader = table.refresh_leader(&connector, &group, Duration::from_secs(5)).await?;
//! assert_eq!(table.select_leader(&group), Some(leader));
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use super::admin::{AdminRequest, AdminResponse, GroupClient};
use super::{CallError, ClientOptions};
use crate::core::{GroupId, PeerId};
use crate::transport::Connector;

/// What the table knows of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// Voters, as last learned.
    pub voters: Vec<PeerId>,
    /// Learners, as last learned.
    pub learners: Vec<PeerId>,
    /// The leader, as last learned (`None`: unknown).
    pub leader: Option<PeerId>,
}

/// Why a route-table call failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The table knows no server of the group.
    #[error("no route to group {0}: update its configuration first")]
    UnknownGroup(GroupId),
    /// No server answered with what was asked.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A server answered something else than what was asked.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// Groups' configurations and leaders, shared by the clients of a process.
#[derive(Debug, Default)]
pub struct RouteTable {
    groups: RwLock<BTreeMap<GroupId, Route>>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `group`'s members (JRaft `updateConfiguration`); a leader no longer among
    /// the voters is forgotten.
    pub fn update_configuration(
        &self,
        group: &GroupId,
        voters: Vec<PeerId>,
        learners: Vec<PeerId>,
    ) {
        let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
        let route = groups.entry(group.clone()).or_default();
        if route
            .leader
            .as_ref()
            .is_some_and(|leader| !voters.contains(leader))
        {
            route.leader = None;
        }
        route.voters = voters;
        route.learners = learners;
    }

    /// Records `leader` as `group`'s leader (JRaft `updateLeader`); false if the table
    /// does not know the group.
    pub fn update_leader(&self, group: &GroupId, leader: PeerId) -> bool {
        let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
        match groups.get_mut(group) {
            Some(route) => {
                route.leader = Some(leader);
                true
            }
            None => false,
        }
    }

    /// The leader as last learned (JRaft `selectLeader`).
    pub fn select_leader(&self, group: &GroupId) -> Option<PeerId> {
        self.route(group).and_then(|route| route.leader)
    }

    /// What the table knows of `group`.
    pub fn route(&self, group: &GroupId) -> Option<Route> {
        self.groups
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(group)
            .cloned()
    }

    /// Forgets `group` (JRaft `removeGroup`); whether it was known.
    pub fn remove_group(&self, group: &GroupId) -> bool {
        self.groups
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(group)
            .is_some()
    }

    /// Every group the table knows.
    pub fn groups(&self) -> Vec<GroupId> {
        self.groups
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// The servers to try for `group`: the leader first, then the voters, then the
    /// learners.
    pub fn servers(&self, group: &GroupId) -> Result<Vec<PeerId>, RouteError> {
        let route = self
            .route(group)
            .filter(|route| !route.voters.is_empty() || !route.learners.is_empty())
            .ok_or_else(|| RouteError::UnknownGroup(group.clone()))?;
        let mut servers: Vec<PeerId> = route.leader.iter().cloned().collect();
        for peer in route.voters.iter().chain(&route.learners) {
            if !servers.contains(peer) {
                servers.push(peer.clone());
            }
        }
        Ok(servers)
    }

    /// A client of `group` that starts at the leader as last learned.
    pub fn client<C: Connector>(
        &self,
        connector: C,
        group: &GroupId,
        timeout: Duration,
    ) -> Result<GroupClient<C>, RouteError> {
        let servers = self.servers(group)?;
        let options = ClientOptions {
            connect_timeout: timeout.min(Duration::from_secs(2)),
            attempt_timeout: timeout,
            redirect_budget: timeout,
            ..ClientOptions::default()
        };
        Ok(GroupClient::new(
            connector,
            group.clone(),
            &servers,
            options,
        ))
    }

    /// Asks the group's servers who leads and records it (JRaft `refreshLeader`): the
    /// first server that names a leader is believed. Followers only know the leader of
    /// their term, so the answer can be stale by one election; a request sent to it is
    /// then redirected.
    pub async fn refresh_leader<C: Connector + Clone>(
        &self,
        connector: &C,
        group: &GroupId,
        timeout: Duration,
    ) -> Result<PeerId, RouteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = RouteError::Unexpected("no server named a leader".into());
        while tokio::time::Instant::now() < deadline {
            for server in self.servers(group)? {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                let options = ClientOptions {
                    connect_timeout: left.min(Duration::from_secs(1)),
                    attempt_timeout: left.min(Duration::from_secs(2)),
                    // One server only: its own answer (GetLeader never redirects).
                    redirect_budget: left.min(Duration::from_secs(2)),
                    ..ClientOptions::default()
                };
                let mut client =
                    GroupClient::new(connector.clone(), group.clone(), &[server], options);
                match client.admin(AdminRequest::GetLeader).await {
                    Ok(AdminResponse::Leader(Some(leader))) => {
                        self.update_leader(group, leader.clone());
                        return Ok(leader);
                    }
                    Ok(AdminResponse::Leader(None)) => {}
                    Ok(other) => last = RouteError::Unexpected(format!("{other:?}")),
                    Err(error) => last = RouteError::Call(error),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last)
    }

    /// Asks the leader for the configuration in force and records it, with the leader
    /// (JRaft `refreshConfiguration`).
    pub async fn refresh_configuration<C: Connector + Clone>(
        &self,
        connector: &C,
        group: &GroupId,
        timeout: Duration,
    ) -> Result<Route, RouteError> {
        let mut client = self.client(connector.clone(), group, timeout)?;
        // `list-alive-peers` is answered by the leader only (others redirect), so its
        // answer tells who leads; then the leader's configuration.
        let alive = client.admin(AdminRequest::ListAlivePeers).await?;
        if !matches!(alive, AdminResponse::AlivePeers(_)) {
            return Err(RouteError::Unexpected(format!("{alive:?}")));
        }
        let leader = client.believed_leader().clone();
        match client.admin(AdminRequest::GetPeers).await? {
            AdminResponse::Peers { voters, learners } => {
                self.update_configuration(group, voters, learners);
                self.update_leader(group, leader);
                self.route(group)
                    .ok_or_else(|| RouteError::UnknownGroup(group.clone()))
            }
            other => Err(RouteError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// A plan to spread the leaders of `groups` evenly over `servers` (JRaft
/// `CliService#rebalance`): for each group led by a server above its fair share
/// (`ceil(groups / servers)`), a voter of that group below its share to hand the
/// leadership to. `leaders` and `voters` are what the route table knows. Pure, so the
/// plan can be shown before it runs; `concord cli rebalance` runs it with
/// `transfer-leader`.
pub fn rebalance_plan(
    servers: &[PeerId],
    routes: &BTreeMap<GroupId, Route>,
) -> Vec<(GroupId, PeerId, PeerId)> {
    if servers.is_empty() {
        return Vec::new();
    }
    let led: Vec<(&GroupId, &Route, &PeerId)> = routes
        .iter()
        .filter_map(|(group, route)| route.leader.as_ref().map(|leader| (group, route, leader)))
        .collect();
    let share = led.len().div_ceil(servers.len());
    let mut load: BTreeMap<&PeerId, usize> = servers.iter().map(|s| (s, 0)).collect();
    for (_, _, leader) in &led {
        *load.entry(leader).or_default() += 1;
    }
    let mut plan = Vec::new();
    for (group, route, leader) in led {
        if load.get(leader).copied().unwrap_or(0) <= share {
            continue;
        }
        // The least-loaded voter below the share (ties: the first by id).
        let target = route
            .voters
            .iter()
            .filter(|voter| *voter != leader && servers.contains(voter))
            .filter(|voter| load.get(voter).copied().unwrap_or(0) < share)
            .min_by_key(|voter| load.get(voter).copied().unwrap_or(0));
        if let Some(target) = target {
            *load.entry(leader).or_default() -= 1;
            *load.entry(target).or_default() += 1;
            plan.push((group.clone(), leader.clone(), target.clone()));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> PeerId {
        format!("127.0.0.1:{port}").parse().unwrap()
    }

    #[test]
    fn the_table_tracks_configurations_and_leaders() {
        let table = RouteTable::new();
        let group = GroupId::new("g").unwrap();
        assert!(matches!(
            table.servers(&group),
            Err(RouteError::UnknownGroup(_))
        ));
        assert!(!table.update_leader(&group, peer(1)));
        table.update_configuration(&group, vec![peer(1), peer(2), peer(3)], vec![peer(4)]);
        assert!(table.update_leader(&group, peer(2)));
        assert_eq!(table.select_leader(&group), Some(peer(2)));
        assert_eq!(
            table.servers(&group).unwrap(),
            vec![peer(2), peer(1), peer(3), peer(4)]
        );
        // A leader no longer a voter is forgotten.
        table.update_configuration(&group, vec![peer(1), peer(3)], vec![]);
        assert_eq!(table.select_leader(&group), None);
        assert_eq!(table.groups(), vec![group.clone()]);
        assert!(table.remove_group(&group));
        assert!(!table.remove_group(&group));
    }

    #[test]
    fn rebalancing_moves_leaders_from_loaded_servers_to_idle_voters() {
        let servers = [peer(1), peer(2), peer(3)];
        let mut routes = BTreeMap::new();
        for g in 0..6 {
            routes.insert(
                GroupId::new(format!("g{g}")).unwrap(),
                Route {
                    voters: servers.to_vec(),
                    learners: vec![],
                    leader: Some(peer(1)),
                },
            );
        }
        let plan = rebalance_plan(&servers, &routes);
        // Six groups on three servers: two each, so four move.
        assert_eq!(plan.len(), 4);
        let mut load = BTreeMap::new();
        for route in routes.values() {
            *load.entry(route.leader.clone().unwrap()).or_insert(0) += 1;
        }
        for (_, from, to) in &plan {
            *load.get_mut(from).unwrap() -= 1;
            *load.entry(to.clone()).or_insert(0) += 1;
        }
        assert!(load.values().all(|&n| n == 2), "{load:?}");
        // Already balanced: nothing to do.
        let mut balanced = routes.clone();
        for (i, route) in balanced.values_mut().enumerate() {
            route.leader = Some(servers[i % 3].clone());
        }
        assert!(rebalance_plan(&servers, &balanced).is_empty());
    }
}
