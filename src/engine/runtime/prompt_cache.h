// The prompt cache's storage (engine.h: PromptCache): a tree of blocks keyed by token prefix. A
// node holds up to block_tokens consecutive positions of one token sequence: their tokens and, for
// every layer and KV head, their K and V rows copied out of a context's KV cache. A node's parent
// holds the positions before it, so the path from the root spells the prefix whose K/V the node's
// rows continue. Only full blocks have children; a partial block is the tail a finished sequence
// left. Memory is bounded: a block is stored only after least-recently-used leaves are evicted to
// make room for it, and never when room cannot be made (every leaf pinned by a running sequence).
//
// Sliding-window layers keep only a ring of recent positions in the KV cache (kv_cache.h), so a
// block is copied out right after the decode step that completed it, while every layer still holds
// it: a block covers all layers and can be restored at any depth. Restoring position P copies the
// global layers' rows for 0..P-1 and the sliding layers' last window - 1 of them, which is all the
// next token attends to.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace chimera::engine {

class KvCache;

class PromptCacheImpl final : public PromptCache {
 public:
  struct Node;
  // A sequence's hold on the cache, kept by the context per slot.
  struct Cursor {
    Node* node = nullptr;  // deepest full block of the sequence stored (pinned); null: none yet
    int32_t captured = 0;  // positions covered by `node` and its ancestors
    bool storing = true;   // false once a block could not be stored: later ones would be orphans
  };

  PromptCacheImpl(std::shared_ptr<const Model> model, GgmlType kv_type, size_t row_bytes,
                  const PromptCacheOptions& options);
  ~PromptCacheImpl() override;

  PromptCacheStats stats() const override;
  void set_max_bytes(int64_t max_bytes) override;
  GgmlType kv_type() const override { return kv_type_; }
  const Model& model() const override { return *model_; }
  int32_t block_tokens() const { return block_tokens_; }

  // Copies into slot `seq` of `kv` the longest cached prefix of `tokens`, at most `limit`
  // positions; returns its length and sets `cursor` (released by the caller with release()).
  int32_t restore(KvCache& kv, int32_t seq, std::span<const int32_t> tokens, int32_t limit,
                  Cursor& cursor);
  // Stores the blocks of slot `seq` that `tokens` (its positions 0..n-1) completed since the
  // cursor; with `finished`, the last partial block too.
  void store(KvCache& kv, int32_t seq, std::span<const int32_t> tokens, bool finished,
             Cursor& cursor);
  void release(Cursor& cursor);

 private:
  Node* match_full(Node* parent, std::span<const int32_t> block) const;
  bool evictable(const Node* node) const;
  void refresh(Node* node);  // after a change of children or pins: re-file in lru_
  void touch(Node* node);    // used now
  void pin(Node* node);
  void unpin(Node* node);
  void evict(Node* node);
  bool make_room(int64_t bytes);
  // Copies positions [from, to) of the node's block (absolute positions) between the node's rows
  // and slot `seq` of `kv`; sliding layers take only positions >= ring_from into the slot.
  void copy_out(KvCache& kv, int32_t seq, Node& node) const;
  void copy_in(KvCache& kv, int32_t seq, const Node& node, int32_t to, int32_t ring_from) const;
  int64_t node_bytes(int32_t n_tokens) const;

  std::shared_ptr<const Model> model_;
  GgmlType kv_type_;
  size_t row_bytes_;
  int32_t block_tokens_;
  int32_t min_window_ = 0;        // smallest sliding window (0: no sliding layer)
  std::vector<int> head_base_;    // per layer: KV heads of the layers before it
  std::vector<int> layer_heads_;  // per layer: KV heads
  int total_heads_ = 0;
  int64_t bytes_per_token_ = 0;

  mutable std::mutex mutex_;
  std::unique_ptr<Node> root_;
  std::set<std::pair<uint64_t, Node*>> lru_;  // evictable leaves by last use
  uint64_t tick_ = 0;
  int64_t max_bytes_ = 0;
  int64_t bytes_ = 0;
  int64_t peak_bytes_ = 0;
  int64_t blocks_ = 0;
  int64_t evicted_ = 0;
  int64_t restored_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace chimera::engine
