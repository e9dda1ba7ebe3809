//! The topic filters of SUBSCRIBE and UNSUBSCRIBE: one list type for both.
//!
//! A SUBSCRIBE carries `(filter, requested QoS)` entries and an UNSUBSCRIBE
//! plain filters; otherwise their lists work the same way, so both are a
//! [`FilterList`] of their own [`FilterEntry`], under the names the rest of
//! hilt uses ([`SubscribeFilters`], [`UnsubscribeFilters`] and their
//! companions).
//!
//! There are two forms because the codec never copies: a client builds a
//! packet from its own list, while a decoded packet can only point at the
//! bytes it came in. [`FilterList::iter`] reads both the same way, and two
//! lists are equal when they yield the same entries.

use core::fmt;
use core::marker::PhantomData;

use super::decode::{DecodeError, Reader};
use super::packets::QoS;
use crate::mqtt::topic;

/// One entry of a filter list: what SUBSCRIBE and UNSUBSCRIBE each put on
/// the wire per topic filter.
pub trait FilterEntry<'a>: Copy + PartialEq + fmt::Debug + 'a {
    /// The topic filter.
    fn filter(&self) -> &'a str;

    /// The QoS asked for with the filter: SUBSCRIBE sends it after the
    /// filter, UNSUBSCRIBE has none.
    fn requested_qos(&self) -> Option<QoS>;

    /// Reads and checks one entry at the front of `bytes`, and moves `bytes`
    /// past it.
    fn read(bytes: &mut &'a [u8]) -> Result<Self, DecodeError>;
}

/// A SUBSCRIBE entry: the filter and the QoS asked for.
impl<'a> FilterEntry<'a> for (&'a str, QoS) {
    fn filter(&self) -> &'a str {
        self.0
    }

    fn requested_qos(&self) -> Option<QoS> {
        Some(self.1)
    }

    fn read(bytes: &mut &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let filter = read_filter(&mut reader)?;
        let requested = reader.read_u8()?;
        if requested & 0b1111_1100 != 0 {
            return Err(DecodeError::ReservedBitsSet);
        }
        let qos = QoS::try_from(requested)?;
        *bytes = reader.rest();
        Ok((filter, qos))
    }
}

/// An UNSUBSCRIBE entry: the filter alone.
impl<'a> FilterEntry<'a> for &'a str {
    fn filter(&self) -> &'a str {
        self
    }

    fn requested_qos(&self) -> Option<QoS> {
        None
    }

    fn read(bytes: &mut &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let filter = read_filter(&mut reader)?;
        *bytes = reader.rest();
        Ok(filter)
    }
}

/// Reads a topic filter and checks it is one.
fn read_filter<'a>(reader: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let filter = reader.read_str()?;
    topic::validate_filter(filter).map_err(DecodeError::InvalidTopicFilter)?;
    Ok(filter)
}

/// The topic filters of a SUBSCRIBE or UNSUBSCRIBE packet; see the module
/// documentation.
#[derive(Clone, Copy)]
pub enum FilterList<'a, E> {
    /// A caller's list, for encoding. [`encode`](super::encode) validates it.
    List(&'a [E]),
    /// The entries as they were on the wire, produced by
    /// [`decode`](super::decode), which has already validated them.
    Encoded(EncodedFilterList<'a, E>),
}

/// The payload of a decoded SUBSCRIBE or UNSUBSCRIBE packet.
///
/// It can only be made by [`decode`](super::decode), after every entry was
/// checked, which is why its fields are private: iterating it can then never
/// meet a malformed entry.
#[derive(Clone, Copy)]
pub struct EncodedFilterList<'a, E> {
    bytes: &'a [u8],
    count: usize,
    entries: PhantomData<E>,
}

/// An iterator over the entries of a [`FilterList`].
#[derive(Debug, Clone)]
pub struct FilterListIter<'a, E> {
    source: FilterListSource<'a, E>,
}

#[derive(Debug, Clone)]
enum FilterListSource<'a, E> {
    List(core::slice::Iter<'a, E>),
    Encoded(&'a [u8]),
}

/// The filters of a SUBSCRIBE packet, each with its requested QoS.
pub type SubscribeFilters<'a> = FilterList<'a, (&'a str, QoS)>;
/// The payload of a decoded SUBSCRIBE packet.
pub type EncodedSubscribeFilters<'a> = EncodedFilterList<'a, (&'a str, QoS)>;
/// An iterator over the `(filter, requested QoS)` entries of [`SubscribeFilters`].
pub type SubscribeFiltersIter<'a> = FilterListIter<'a, (&'a str, QoS)>;
/// The filters of an UNSUBSCRIBE packet.
pub type UnsubscribeFilters<'a> = FilterList<'a, &'a str>;
/// The payload of a decoded UNSUBSCRIBE packet.
pub type EncodedUnsubscribeFilters<'a> = EncodedFilterList<'a, &'a str>;
/// An iterator over the filters of [`UnsubscribeFilters`].
pub type UnsubscribeFiltersIter<'a> = FilterListIter<'a, &'a str>;

impl<'a, E: FilterEntry<'a>> FilterList<'a, E> {
    /// The entries in order, whichever form they are stored in.
    pub fn iter(&self) -> FilterListIter<'a, E> {
        match *self {
            FilterList::List(list) => FilterListIter {
                source: FilterListSource::List(list.iter()),
            },
            FilterList::Encoded(encoded) => encoded.iter(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match self {
            FilterList::List(list) => list.len(),
            FilterList::Encoded(encoded) => encoded.len(),
        }
    }

    /// Whether there are no entries, which [`encode`](super::encode) refuses.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size of the entries on the wire: each filter with its two-byte
    /// length, and the requested QoS byte where the entry has one.
    pub(super) fn encoded_len(&self) -> usize {
        match self {
            FilterList::List(list) => list.iter().fold(0usize, |total, entry| {
                let qos_len = usize::from(entry.requested_qos().is_some());
                total
                    .saturating_add(entry.filter().len())
                    .saturating_add(2 + qos_len)
            }),
            FilterList::Encoded(encoded) => encoded.bytes.len(),
        }
    }
}

impl<'a, E: FilterEntry<'a>> EncodedFilterList<'a, E> {
    /// Reads and checks every entry of a decoded payload, and keeps them as
    /// they came; an empty payload is an error, as MQTT 3.1.1 requires at
    /// least one entry.
    pub(super) fn read(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut entries = bytes;
        let mut count = 0usize;
        while !entries.is_empty() {
            E::read(&mut entries)?;
            count += 1;
        }
        if count == 0 {
            return Err(DecodeError::EmptyPayload);
        }
        Ok(EncodedFilterList {
            bytes,
            count,
            entries: PhantomData,
        })
    }

    /// The entries in order.
    pub fn iter(&self) -> FilterListIter<'a, E> {
        FilterListIter {
            source: FilterListSource::Encoded(self.bytes),
        }
    }
}

impl<'a, E> EncodedFilterList<'a, E> {
    /// The number of entries.
    pub const fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no entries; never true for a decoded packet.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entries exactly as they were encoded on the wire.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

// Written out rather than derived: a decoded list shows its entries, which
// takes decoding them, so both forms need the entry type's reader.
impl<'a, E: FilterEntry<'a>> fmt::Debug for FilterList<'a, E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterList::List(list) => formatter.debug_tuple("List").field(list).finish(),
            FilterList::Encoded(encoded) => {
                formatter.debug_tuple("Encoded").field(encoded).finish()
            }
        }
    }
}

impl<'a, E: FilterEntry<'a>> fmt::Debug for EncodedFilterList<'a, E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, E: FilterEntry<'a>> Iterator for FilterListIter<'a, E> {
    type Item = E;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            FilterListSource::List(entries) => entries.next().copied(),
            FilterListSource::Encoded(bytes) => {
                let entry = E::read(bytes).ok();
                // Decoding validated the bytes, so an error cannot happen;
                // should it anyway, the iterator ends instead of panicking.
                if entry.is_none() {
                    *bytes = &[];
                }
                entry
            }
        }
    }
}

impl<'a, E: FilterEntry<'a>> IntoIterator for FilterList<'a, E> {
    type Item = E;
    type IntoIter = FilterListIter<'a, E>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, E: FilterEntry<'a>> IntoIterator for &FilterList<'a, E> {
    type Item = E;
    type IntoIter = FilterListIter<'a, E>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, E: FilterEntry<'a>> PartialEq for FilterList<'a, E> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, E: FilterEntry<'a>> Eq for FilterList<'a, E> {}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;
    use crate::mqtt::codec::test_support::*;
    use crate::mqtt::codec::*;

    #[test]
    fn decoded_unsubscribe_filters_iterate() {
        let bytes = [
            0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'#',
        ];
        let Packet::Unsubscribe(unsubscribe) = decode_all(&bytes) else {
            panic!("not an UNSUBSCRIBE");
        };
        assert_eq!(unsubscribe.filters.len(), 2);
        assert!(!unsubscribe.filters.is_empty());
        assert_eq!(
            unsubscribe.filters.into_iter().collect::<Vec<_>>(),
            ["a/b", "c/#"]
        );
        if let UnsubscribeFilters::Encoded(encoded) = unsubscribe.filters {
            assert_eq!(encoded.as_bytes(), &bytes[4..]);
            assert_eq!(encoded.len(), 2);
            assert!(!encoded.is_empty());
            assert_eq!(std::format!("{encoded:?}"), r#"["a/b", "c/#"]"#);
        }
    }

    #[test]
    fn a_caller_list_and_its_decoded_form_are_equal_and_measure_the_same() {
        let subscribe = Packet::Subscribe(Subscribe {
            packet_id: 10,
            filters: SubscribeFilters::List(&TWO_FILTERS),
        });
        let unsubscribe = Packet::Unsubscribe(Unsubscribe {
            packet_id: 12,
            filters: UnsubscribeFilters::List(&UNSUBSCRIBE_FILTERS),
        });
        for packet in [subscribe, unsubscribe] {
            let bytes = encode_to_vec(&packet);
            let decoded = decode_all(&bytes);
            assert_eq!(decoded, packet);
            match (packet, decoded) {
                (Packet::Subscribe(built), Packet::Subscribe(read)) => {
                    assert!(matches!(read.filters, FilterList::Encoded(_)));
                    assert_eq!(built.filters.encoded_len(), read.filters.encoded_len());
                    assert_eq!(built.filters.encoded_len(), bytes.len() - 4);
                }
                (Packet::Unsubscribe(built), Packet::Unsubscribe(read)) => {
                    assert!(matches!(read.filters, FilterList::Encoded(_)));
                    assert_eq!(built.filters.encoded_len(), read.filters.encoded_len());
                    assert_eq!(built.filters.encoded_len(), bytes.len() - 4);
                }
                other => panic!("decoded into another packet type: {other:?}"),
            }
        }
    }

    #[test]
    fn entries_read_from_the_front_and_move_past_themselves() {
        let mut bytes: &[u8] = &[0x00, 0x01, b'a', 0x01, 0x00, 0x01, b'b', 0x02];
        assert_eq!(<(&str, QoS)>::read(&mut bytes), Ok(("a", QoS::AtLeastOnce)));
        assert_eq!(bytes, [0x00, 0x01, b'b', 0x02]);
        let mut reserved: &[u8] = &[0x00, 0x01, b'a', 0x04];
        assert_eq!(
            <(&str, QoS)>::read(&mut reserved),
            Err(DecodeError::ReservedBitsSet)
        );
        let mut plain: &[u8] = &[0x00, 0x01, b'#', 0x00, 0x01, b'+'];
        assert_eq!(<&str>::read(&mut plain), Ok("#"));
        assert_eq!(<&str>::read(&mut plain), Ok("+"));
        assert!(plain.is_empty());
        let mut not_a_filter: &[u8] = &[0x00, 0x02, b'a', b'#'];
        assert_eq!(
            <&str>::read(&mut not_a_filter),
            Err(DecodeError::InvalidTopicFilter(
                crate::mqtt::topic::TopicError::MultiLevelWildcardNotAlone
            ))
        );
    }
}
