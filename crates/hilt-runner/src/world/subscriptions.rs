//! The subscriptions of the broker's open connections, indexed so that
//! finding who a publish goes to costs work in proportion to its
//! subscribers, not to every connection.
//!
//! A filter without wildcards matches exactly one topic, itself, so those
//! (nearly all of a fleet's: `blue/btn/0`, `devices/probe-17/cmd`) are kept
//! in a map from topic to connections. Filters with `+` or `#` are few (the
//! harness's own `#`, a monitor's `devices/#`) and are matched one by one.
//! A trie would match wildcards faster; with a handful of them it would
//! only add code.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hilt_firmware::mqtt::topic::filter_matches;

use crate::connection::ConnectionId;

/// Each connection's filters, and the same filters indexed by topic.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    /// The filters of each connection, in the order it subscribed to them.
    by_connection: BTreeMap<ConnectionId, Vec<String>>,
    /// Connections by the one topic a filter without wildcards matches.
    exact: HashMap<String, BTreeSet<ConnectionId>>,
    /// Filters with `+` or `#`, with their connection.
    wildcards: BTreeSet<(ConnectionId, String)>,
}

impl Subscriptions {
    /// The filters `connection` subscribes to, if any.
    pub(super) fn filters_of(&self, connection: ConnectionId) -> Option<&[String]> {
        self.by_connection.get(&connection).map(Vec::as_slice)
    }

    /// Adds a filter to a connection; a filter it already has stays once.
    pub(super) fn add(&mut self, connection: ConnectionId, filter: &str) {
        let known = self.by_connection.entry(connection).or_default();
        if known.iter().any(|existing| existing == filter) {
            return;
        }
        known.push(filter.to_owned());
        if has_wildcard(filter) {
            self.wildcards.insert((connection, filter.to_owned()));
        } else {
            self.exact
                .entry(filter.to_owned())
                .or_default()
                .insert(connection);
        }
    }

    /// Removes a filter from a connection, if it has it.
    pub(super) fn remove(&mut self, connection: ConnectionId, filter: &str) {
        let Some(known) = self.by_connection.get_mut(&connection) else {
            return;
        };
        let before = known.len();
        known.retain(|existing| existing != filter);
        if known.len() == before {
            return;
        }
        self.unindex(connection, filter);
    }

    /// A connection ended: every filter of it goes.
    pub(super) fn remove_connection(&mut self, connection: ConnectionId) {
        let Some(filters) = self.by_connection.remove(&connection) else {
            return;
        };
        for filter in &filters {
            self.unindex(connection, filter);
        }
    }

    /// Forgets every subscription.
    pub(super) fn clear(&mut self) {
        *self = Subscriptions::default();
    }

    /// The connections with a filter matching `topic`, in connection order,
    /// each once.
    pub(super) fn matching(&self, topic: &str) -> BTreeSet<ConnectionId> {
        let mut connections = self.exact.get(topic).cloned().unwrap_or_default();
        for (connection, filter) in &self.wildcards {
            if filter_matches(filter, topic) {
                connections.insert(*connection);
            }
        }
        connections
    }

    fn unindex(&mut self, connection: ConnectionId, filter: &str) {
        if has_wildcard(filter) {
            self.wildcards.remove(&(connection, filter.to_owned()));
        } else if let Some(connections) = self.exact.get_mut(filter) {
            connections.remove(&connection);
            if connections.is_empty() {
                self.exact.remove(filter);
            }
        }
    }
}

fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(id: u64) -> ConnectionId {
        ConnectionId::for_tests(id)
    }

    fn matching(subscriptions: &Subscriptions, topic: &str) -> Vec<u64> {
        subscriptions
            .matching(topic)
            .into_iter()
            .map(|connection| connection.to_string().parse().unwrap())
            .collect()
    }

    #[test]
    fn exact_and_wildcard_filters_both_match_each_connection_once() {
        let mut subscriptions = Subscriptions::default();
        subscriptions.add(connection(3), "blue/btn/0");
        subscriptions.add(connection(1), "#");
        subscriptions.add(connection(2), "blue/+/0");
        subscriptions.add(connection(2), "blue/btn/0");
        subscriptions.add(connection(4), "green/btn/0");
        assert_eq!(matching(&subscriptions, "blue/btn/0"), [1, 2, 3]);
        assert_eq!(matching(&subscriptions, "green/btn/0"), [1, 4]);
        assert_eq!(matching(&subscriptions, "$SYS/uptime"), Vec::<u64>::new());
    }

    #[test]
    fn removing_a_filter_or_a_connection_unindexes_it() {
        let mut subscriptions = Subscriptions::default();
        subscriptions.add(connection(1), "a/b");
        subscriptions.add(connection(1), "a/#");
        subscriptions.add(connection(2), "a/b");
        subscriptions.remove(connection(1), "a/b");
        assert_eq!(matching(&subscriptions, "a/b"), [1, 2], "a/# still matches");
        subscriptions.remove(connection(1), "a/#");
        assert_eq!(matching(&subscriptions, "a/b"), [2]);
        subscriptions.remove_connection(connection(2));
        assert_eq!(matching(&subscriptions, "a/b"), Vec::<u64>::new());
        assert_eq!(subscriptions.filters_of(connection(2)), None);
        assert!(subscriptions.exact.is_empty(), "no empty entries are left");
    }

    #[test]
    fn a_repeated_filter_is_kept_once() {
        let mut subscriptions = Subscriptions::default();
        subscriptions.add(connection(1), "a/b");
        subscriptions.add(connection(1), "a/b");
        assert_eq!(
            subscriptions.filters_of(connection(1)),
            Some(&["a/b".to_owned()][..])
        );
        subscriptions.remove(connection(1), "a/b");
        assert_eq!(matching(&subscriptions, "a/b"), Vec::<u64>::new());
    }
}
