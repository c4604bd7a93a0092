// Intrusive lists for the reference allocators: the links live inside what is listed (a free
// block, a chunk, span or arena header), so keeping memory on a list allocates nothing. One
// inline definition of each list operation for every family that threads such a list.
#pragma once

#include <concepts>

namespace allocmeter::intrusive {

/// A node of a doubly linked list: `prev` and `next` point to nodes of its own type.
template <class Node>
concept doubly_linked = requires(Node* n) {
    { n->prev } -> std::convertible_to<Node*>;
    { n->next } -> std::convertible_to<Node*>;
};

/// Puts n at the front of the list at `head` (null when empty). Newest first, so the node
/// linked last, still warm in cache, is the first one a search meets.
template <doubly_linked Node>
inline void push_front(Node*& head, Node* n) noexcept {
    n->prev = nullptr;
    n->next = head;
    if (head != nullptr) head->prev = n;
    head = n;
}

/// Takes n off the list at `head`, in O(1) wherever it sits: the reason for the second link.
/// n must be on that list; its own links are left as they were.
template <doubly_linked Node>
inline void unlink(Node*& head, Node* n) noexcept {
    (n->prev != nullptr ? n->prev->next : head) = n->next;
    if (n->next != nullptr) n->next->prev = n->prev;
}

}  // namespace allocmeter::intrusive
