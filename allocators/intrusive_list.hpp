// Intrusive lists for the reference allocators: the links live inside what is listed (a free
// block, a chunk, span or arena header), so keeping memory on a list allocates nothing. One
// inline definition of each list operation for every family that threads such a list.
#pragma once

#include <concepts>
#include <cstddef>

#include "allocators/os_pages.hpp"

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

/// Unmaps every mapping on a singly linked list of mappings that each start with their node
/// and are all `bytes` long (a destructor's teardown); leaves `head` null.
template <class Node>
inline void unmap_all(Node*& head, std::size_t bytes) noexcept {
    while (head != nullptr) {
        Node* next = head->next;
        os::unmap_pages(head, bytes);
        head = next;
    }
}

/// A free fixed-size object: its first word links it to the next free one.
struct free_object {
    free_object* next;
};

/// Pushes the object at p onto the free list at `head`. LIFO: the next allocation reuses the
/// block freed last, while it is still in cache.
inline void push_free(free_object*& head, void* p) noexcept {
    auto* o = static_cast<free_object*>(p);
    o->next = head;
    head = o;
}

/// The object freed last, else the next never-used one at `carve`, which then moves on by
/// `object_size`: objects are carved lazily, so a fresh mapping is touched only as it is used.
/// The caller has checked that the list or the carve range has one.
inline void* pop_or_carve(free_object*& head, std::byte*& carve, std::size_t object_size) noexcept {
    // One if/else rather than an early return: GCC then lays out slab's inlined fast path as before.
    void* p;
    if (head != nullptr) {
        p = head;
        head = head->next;
    } else {
        p = carve;
        carve += object_size;
    }
    return p;
}

}  // namespace allocmeter::intrusive
