import NightshiftModels
import Testing

@Suite struct SSEParserTests {
    @Test func parsesEventsSplitAcrossChunksInAnyPlace() {
        let stream =
            "event: a\ndata: one\n\n: a comment\ndata: two\ndata: lines\n\nevent: b\r\ndata:no-space\r\n\r\ndata: cr\r\r"
        let expected = [
            SSEEvent(event: "a", data: "one"), SSEEvent(data: "two\nlines"), SSEEvent(event: "b", data: "no-space"),
            SSEEvent(data: "cr"),
        ]
        for size in [1, 2, 3, 7, 1000] {
            var parser = SSEParser()
            var events: [SSEEvent] = []
            let bytes = Array(stream.utf8)
            for start in stride(from: 0, to: bytes.count, by: size) {
                events += parser.feed(bytes[start..<min(start + size, bytes.count)])
            }
            #expect(events == expected, "chunk size \(size)")
        }
    }

    @Test func anUnterminatedEventIsDropped() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: complete\n\ndata: cut off".utf8)) == [SSEEvent(data: "complete")])
        #expect(parser.finish().isEmpty)
    }

    @Test func utf8SplitInsideACharacterSurvives() {
        var parser = SSEParser()
        let bytes = Array("data: héllo 😀\n\n".utf8)
        var events: [SSEEvent] = []
        for b in bytes { events += parser.feed([b]) }
        #expect(events == [SSEEvent(data: "héllo 😀")])
    }
}
