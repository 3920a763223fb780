// Where a request ends in the bytes received so far (server/request_framing.h): what the connection
// front relies on to hand only whole requests to a worker, and to refuse impossible ones at once.
#include "server/request_framing.h"

#include <gtest/gtest.h>

namespace chimera::server {
namespace {

using State = RequestFraming::State;

RequestFraming frame(std::string_view bytes) { return frame_request(bytes, 1024, 100); }

TEST(RequestFraming, AHeadAloneIsCompleteAtItsBlankLine) {
  EXPECT_EQ(frame("GET / HTTP/1.1\r\nHost: x\r\n").state, State::kIncomplete);
  RequestFraming f = frame("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next");
  EXPECT_EQ(f.state, State::kComplete);
  EXPECT_EQ(f.total_bytes, 27u);  // a pipelined request after it is not part of it
}

TEST(RequestFraming, ContentLengthBodiesMustArriveWhole) {
  std::string head = "POST /api/generate HTTP/1.1\r\ncontent-length: 5\r\n\r\n";
  EXPECT_EQ(frame(head + "abc").state, State::kIncomplete);
  RequestFraming f = frame(head + "abcdeXY");
  EXPECT_EQ(f.state, State::kComplete);
  EXPECT_EQ(f.total_bytes, head.size() + 5);
}

TEST(RequestFraming, ChunkedBodiesEndAtTheLastChunkAndTrailers) {
  std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(frame(head + "3\r\nabc\r\n").state, State::kIncomplete);
  EXPECT_EQ(frame(head + "3\r\nabc\r\n0\r\n").state, State::kIncomplete);
  RequestFraming f = frame(head + "3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\nnext");
  EXPECT_EQ(f.state, State::kComplete);
  EXPECT_EQ(f.total_bytes,
            head.size() + std::string("3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n").size());
  EXPECT_EQ(frame(head + "zz\r\n").error_status, 400);
  EXPECT_EQ(frame(head + "3\r\nabcXX").error_status, 400);
  EXPECT_EQ(frame(head + "65\r\n").error_status, 413);  // 101 bytes, over the limit of 100
}

TEST(RequestFraming, ImpossibleRequestsAreRefusedAtOnce) {
  EXPECT_EQ(frame(std::string(2000, 'a')).error_status, 431);  // no end of head within 1024
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n").error_status, 413);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").error_status, 400);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").error_status,
            400);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .error_status,
            400);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").error_status, 400);
}

TEST(RequestFraming, AClientThatExpectsContinueIsToldToGoOn) {
  std::string head = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  EXPECT_TRUE(frame(head).expects_continue);
  EXPECT_FALSE(frame(head + "abcd").expects_continue);  // whole already: nothing to ask for
}

}  // namespace
}  // namespace chimera::server
