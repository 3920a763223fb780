#include "engine/runtime/prompt_cache.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "engine/model/model_config.h"
#include "engine/runtime/kv_cache.h"

namespace chimera::engine {

struct PromptCacheImpl::Node {
  Node* parent = nullptr;
  int32_t start = 0;                // position of tokens[0]
  std::vector<int32_t> tokens;      // 1..block_tokens (none for the root)
  std::unique_ptr<uint8_t[]> rows;  // [layer][KV head][K, V][token] rows of row_bytes
  int64_t bytes = 0;                // what this node counts against the budget
  std::vector<std::unique_ptr<Node>> children;
  uint64_t last_used = 0;
  int pins = 0;
  bool in_lru = false;

  int32_t end() const { return start + static_cast<int32_t>(tokens.size()); }
};

namespace {

// Length of the common prefix of a and b.
size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Rows [first, first + count) of one (layer, slot, KV head) run of `cells` cells, where position p
// lives in cell p % cells: at most two contiguous pieces.
template <typename F>
void for_cell_runs(int64_t cells, int64_t first, int64_t count, F&& piece) {
  int64_t done = 0;
  while (done < count) {
    const int64_t cell = (first + done) % cells;
    const int64_t run = std::min(count - done, cells - cell);
    piece(cell, done, run);
    done += run;
  }
}

}  // namespace

Result<int64_t> PromptCache::bytes_per_token(const Model& model, GgmlType kv_type) {
  if (kv_type != GgmlType::kF16 && kv_type != GgmlType::kQ8_0) {
    return make_error(ErrorCode::kUnsupported,
                      "prompt cache: KV type {} is not supported; use F16 or Q8_0",
                      ggml_type_name(kv_type));
  }
  auto row = ggml_row_bytes(kv_type, model.config().head_dim);
  if (!row) {
    return make_error(ErrorCode::kUnsupported,
                      "prompt cache: KV type {} needs a head dimension that is a multiple of 32 "
                      "(model has {})",
                      ggml_type_name(kv_type), model.config().head_dim);
  }
  int64_t heads = 0;
  for (const LayerConfig& layer : model.config().layers) heads += layer.n_head_kv;
  return 2 * heads * static_cast<int64_t>(*row);
}

Result<std::shared_ptr<PromptCache>> PromptCache::create(std::shared_ptr<const Model> model,
                                                         GgmlType kv_type,
                                                         const PromptCacheOptions& options) {
  if (!model) return make_error(ErrorCode::kInvalidArgument, "PromptCache::create: no model");
  if (options.max_bytes < 0 || options.block_tokens <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "prompt cache: budget {} bytes and block of {} tokens must be positive",
                      options.max_bytes, options.block_tokens);
  }
  CHIMERA_ASSIGN_OR_RETURN(int64_t per_token, bytes_per_token(*model, kv_type));
  (void)per_token;
  const size_t row_bytes = *ggml_row_bytes(kv_type, model->config().head_dim);
  return std::shared_ptr<PromptCache>(
      new PromptCacheImpl(std::move(model), kv_type, row_bytes, options));
}

PromptCacheImpl::PromptCacheImpl(std::shared_ptr<const Model> model, GgmlType kv_type,
                                 size_t row_bytes, const PromptCacheOptions& options)
    : model_(std::move(model)),
      kv_type_(kv_type),
      row_bytes_(row_bytes),
      block_tokens_(options.block_tokens),
      root_(std::make_unique<Node>()),
      max_bytes_(options.max_bytes) {
  for (const LayerConfig& layer : model_->config().layers) {
    head_base_.push_back(total_heads_);
    layer_heads_.push_back(layer.n_head_kv);
    total_heads_ += layer.n_head_kv;
    if (layer.is_sliding()) {
      min_window_ =
          min_window_ == 0 ? layer.sliding_window : std::min(min_window_, layer.sliding_window);
    }
  }
  // A block is copied out after the step that completed it; a sliding layer's ring then still holds
  // its window plus one batch, so a block no longer than the window is always whole in it.
  if (min_window_ > 0) block_tokens_ = std::min(block_tokens_, min_window_);
  block_tokens_ = std::max(block_tokens_, 1);
  bytes_per_token_ = 2 * int64_t{total_heads_} * static_cast<int64_t>(row_bytes_);
}

PromptCacheImpl::~PromptCacheImpl() = default;

int64_t PromptCacheImpl::node_bytes(int32_t n_tokens) const {
  return int64_t{n_tokens} * (bytes_per_token_ + static_cast<int64_t>(sizeof(int32_t))) +
         static_cast<int64_t>(sizeof(Node));
}

PromptCacheStats PromptCacheImpl::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  PromptCacheStats s;
  s.bytes = bytes_;
  s.max_bytes = max_bytes_;
  s.peak_bytes = peak_bytes_;
  s.blocks = blocks_;
  s.evicted_blocks = evicted_;
  s.restored_tokens = restored_;
  s.skipped_blocks = skipped_;
  s.block_tokens = block_tokens_;
  s.bytes_per_token = bytes_per_token_;
  return s;
}

void PromptCacheImpl::set_max_bytes(int64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  max_bytes_ = std::max<int64_t>(0, max_bytes);
  while (bytes_ > max_bytes_ && !lru_.empty()) evict(lru_.begin()->second);
}

bool PromptCacheImpl::evictable(const Node* node) const {
  return node != root_.get() && node->children.empty() && node->pins == 0;
}

void PromptCacheImpl::refresh(Node* node) {
  if (node == root_.get()) return;
  if (node->in_lru) lru_.erase({node->last_used, node});
  node->in_lru = evictable(node);
  if (node->in_lru) lru_.insert({node->last_used, node});
}

void PromptCacheImpl::touch(Node* node) {
  if (node == root_.get()) return;
  if (node->in_lru) lru_.erase({node->last_used, node});
  node->last_used = ++tick_;
  node->in_lru = evictable(node);
  if (node->in_lru) lru_.insert({node->last_used, node});
}

void PromptCacheImpl::pin(Node* node) {
  if (node == nullptr || node == root_.get()) return;
  ++node->pins;
  refresh(node);
}

void PromptCacheImpl::unpin(Node* node) {
  if (node == nullptr || node == root_.get()) return;
  --node->pins;
  refresh(node);
}

void PromptCacheImpl::evict(Node* node) {
  if (node->in_lru) lru_.erase({node->last_used, node});
  Node* parent = node->parent;
  bytes_ -= node->bytes;
  --blocks_;
  ++evicted_;
  auto& siblings = parent->children;
  siblings.erase(std::find_if(siblings.begin(), siblings.end(),
                              [node](const std::unique_ptr<Node>& c) { return c.get() == node; }));
  refresh(parent);  // may have become an evictable leaf
}

bool PromptCacheImpl::make_room(int64_t bytes) {
  while (bytes_ + bytes > max_bytes_ && !lru_.empty()) evict(lru_.begin()->second);
  return bytes_ + bytes <= max_bytes_;
}

PromptCacheImpl::Node* PromptCacheImpl::match_full(Node* parent,
                                                   std::span<const int32_t> block) const {
  for (const auto& child : parent->children) {
    if (child->tokens.size() == block.size() &&
        std::equal(block.begin(), block.end(), child->tokens.begin())) {
      return child.get();
    }
  }
  return nullptr;
}

void PromptCacheImpl::copy_out(KvCache& kv, int32_t seq, Node& node) const {
  const int64_t n = static_cast<int64_t>(node.tokens.size());
  const size_t rb = row_bytes_;
  for (size_t l = 0; l < layer_heads_.size(); ++l) {
    const int layer = static_cast<int>(l);
    const int64_t cells = kv.cells(layer);
    for (int h = 0; h < layer_heads_[l]; ++h) {
      uint8_t* dst_k = node.rows.get() +
                       static_cast<size_t>((head_base_[l] + h) * 2) * static_cast<size_t>(n) * rb;
      uint8_t* dst_v = dst_k + static_cast<size_t>(n) * rb;
      const uint8_t* src_k = kv.k(layer, seq, h);
      const uint8_t* src_v = kv.v(layer, seq, h);
      for_cell_runs(cells, node.start, n, [&](int64_t cell, int64_t done, int64_t run) {
        std::memcpy(dst_k + static_cast<size_t>(done) * rb, src_k + static_cast<size_t>(cell) * rb,
                    static_cast<size_t>(run) * rb);
        std::memcpy(dst_v + static_cast<size_t>(done) * rb, src_v + static_cast<size_t>(cell) * rb,
                    static_cast<size_t>(run) * rb);
      });
    }
  }
}

void PromptCacheImpl::copy_in(KvCache& kv, int32_t seq, const Node& node, int32_t to,
                              int32_t ring_from) const {
  const int64_t n = static_cast<int64_t>(node.tokens.size());
  const size_t rb = row_bytes_;
  const std::vector<LayerConfig>& layers = model_->config().layers;
  for (size_t l = 0; l < layer_heads_.size(); ++l) {
    const int layer = static_cast<int>(l);
    // Sliding layers: only the positions the next token still attends to.
    const int64_t first =
        layers[l].is_sliding() ? std::max<int64_t>(node.start, ring_from) : node.start;
    const int64_t last = std::min<int64_t>(node.start + n, to);
    if (first >= last) continue;
    const int64_t cells = kv.cells(layer);
    for (int h = 0; h < layer_heads_[l]; ++h) {
      const uint8_t* src_k = node.rows.get() + static_cast<size_t>((head_base_[l] + h) * 2) *
                                                   static_cast<size_t>(n) * rb;
      const uint8_t* src_v = src_k + static_cast<size_t>(n) * rb;
      uint8_t* dst_k = kv.k(layer, seq, h);
      uint8_t* dst_v = kv.v(layer, seq, h);
      const int64_t offset = first - node.start;
      for_cell_runs(cells, first, last - first, [&](int64_t cell, int64_t done, int64_t run) {
        const size_t from = static_cast<size_t>(offset + done) * rb;
        std::memcpy(dst_k + static_cast<size_t>(cell) * rb, src_k + from,
                    static_cast<size_t>(run) * rb);
        std::memcpy(dst_v + static_cast<size_t>(cell) * rb, src_v + from,
                    static_cast<size_t>(run) * rb);
      });
    }
  }
}

int32_t PromptCacheImpl::restore(KvCache& kv, int32_t seq, std::span<const int32_t> tokens,
                                 int32_t limit, Cursor& cursor) {
  std::lock_guard<std::mutex> lock(mutex_);
  cursor = Cursor{};
  limit = std::min<int32_t>(limit, static_cast<int32_t>(tokens.size()));
  if (limit <= 0) return 0;
  const size_t block = static_cast<size_t>(block_tokens_);
  // Whole blocks first (one path: a prefix has one node per block), then the child of the deepest
  // one that shares the most of what follows: a block another sequence completed or a tail.
  std::vector<Node*> chain;
  Node* node = root_.get();
  size_t pos = 0;
  while (pos + block <= tokens.size()) {
    Node* next = match_full(node, tokens.subspan(pos, block));
    if (next == nullptr) break;
    chain.push_back(next);
    node = next;
    pos += block;
  }
  Node* partial = nullptr;
  size_t partial_length = 0;
  for (const auto& child : node->children) {
    const size_t shared = common_prefix(child->tokens, tokens.subspan(pos));
    if (shared > partial_length) {
      partial = child.get();
      partial_length = shared;
    }
  }
  const int32_t matched = static_cast<int32_t>(pos + partial_length);
  const int32_t restored = std::min(matched, limit);
  if (restored <= 0) return 0;
  const int32_t window = min_window_ > 0 ? min_window_ : restored + 1;
  const int32_t ring_from = restored - (window - 1);
  for (Node* n : chain) {
    if (n->start >= restored) break;
    copy_in(kv, seq, *n, restored, ring_from);
    touch(n);
  }
  if (partial != nullptr && partial->start < restored) {
    copy_in(kv, seq, *partial, restored, ring_from);
    touch(partial);
  }
  // The sequence goes on storing from the last whole block it restored.
  const size_t whole = static_cast<size_t>(restored) / block;
  cursor.node = whole > 0 ? chain[whole - 1] : nullptr;
  cursor.captured = static_cast<int32_t>(whole * block);
  pin(cursor.node);
  restored_ += restored;
  return restored;
}

void PromptCacheImpl::store(KvCache& kv, int32_t seq, std::span<const int32_t> tokens,
                            bool finished, Cursor& cursor) {
  const int32_t length = static_cast<int32_t>(tokens.size());
  if (!cursor.storing || length - cursor.captured <= 0) return;
  if (length - cursor.captured < block_tokens_ && !finished) return;
  std::lock_guard<std::mutex> lock(mutex_);
  // Positions a sliding layer's ring no longer holds cannot be stored (kept by block_tokens <=
  // window, checked here all the same).
  int64_t oldest = 0;
  for (size_t l = 0; l < layer_heads_.size(); ++l) {
    oldest = std::max<int64_t>(oldest, length - kv.cells(static_cast<int>(l)));
  }
  while (cursor.storing && cursor.captured < length) {
    const int32_t n = std::min(block_tokens_, length - cursor.captured);
    if (n < block_tokens_ && !finished) break;
    if (cursor.captured < oldest) {
      cursor.storing = false;
      break;
    }
    Node* parent = cursor.node != nullptr ? cursor.node : root_.get();
    const std::span<const int32_t> block =
        tokens.subspan(static_cast<size_t>(cursor.captured), static_cast<size_t>(n));
    // Already there (stored by another sequence with the same prefix, or restored from): a child
    // whose tokens begin with this block's holds the same K/V for them.
    Node* existing = nullptr;
    std::vector<Node*> dominated;  // partial tails this block extends: no longer needed
    for (const auto& child : parent->children) {
      const size_t shared = common_prefix(child->tokens, block);
      if (shared == block.size()) {
        existing = child.get();
        break;
      }
      if (shared == child->tokens.size() && child->tokens.size() < block.size() &&
          evictable(child.get())) {
        dominated.push_back(child.get());
      }
    }
    Node* stored = existing;
    if (stored == nullptr) {
      for (Node* d : dominated) evict(d);
      const int64_t bytes = node_bytes(n);
      if (!make_room(bytes)) {
        ++skipped_;
        cursor.storing = false;
        break;
      }
      auto node = std::make_unique<Node>();
      node->rows.reset(new (std::nothrow) uint8_t[static_cast<size_t>(n * bytes_per_token_)]);
      if (!node->rows) {
        ++skipped_;
        cursor.storing = false;
        break;
      }
      node->parent = parent;
      node->start = cursor.captured;
      node->tokens.assign(block.begin(), block.end());
      node->bytes = bytes;
      copy_out(kv, seq, *node);
      stored = node.get();
      parent->children.push_back(std::move(node));
      bytes_ += bytes;
      peak_bytes_ = std::max(peak_bytes_, bytes_);
      ++blocks_;
      refresh(parent);
    }
    touch(stored);
    if (n < block_tokens_) break;  // a tail: nothing hangs from it
    pin(stored);
    unpin(cursor.node);
    cursor.node = stored;
    cursor.captured += n;
  }
}

void PromptCacheImpl::release(Cursor& cursor) {
  std::lock_guard<std::mutex> lock(mutex_);
  unpin(cursor.node);
  cursor = Cursor{};
}

}  // namespace chimera::engine
