import NIOCore
import Testing

@testable import EsteiraSFTP

@Suite("SFTP v3 packets")
struct ProtocolTests {
    static let attributes = SFTPAttributes(
        size: 1 << 40, uid: 1000, gid: 1000, permissions: 0o100644,
        accessTime: 1_700_000_000, modificationTime: 1_700_000_123)

    static let requests: [SFTPRequest] = [
        .initialize(version: 3),
        .open(id: 1, path: "/in/orders.csv", flags: [.write, .create, .truncate], attributes: .empty),
        .open(id: 2, path: "a", flags: .read, attributes: attributes),
        .close(id: 3, handle: "7"),
        .read(id: 4, handle: "7", offset: 1 << 33, length: 32768),
        .write(id: 5, handle: "7", offset: 65536, data: ByteBuffer(bytes: [0, 1, 2, 255])),
        .lstat(id: 6, path: "x"), .fstat(id: 7, handle: "h"), .stat(id: 8, path: "ação/ü.csv"),
        .setstat(id: 9, path: "x", attributes: attributes), .fsetstat(id: 10, handle: "h", attributes: .empty),
        .opendir(id: 11, path: "/"), .readdir(id: 12, handle: "d"), .remove(id: 13, path: "x"),
        .mkdir(id: 14, path: "d", attributes: .empty), .rmdir(id: 15, path: "d"), .realpath(id: 16, path: "."),
        .rename(id: 17, from: "a", to: "b"), .readlink(id: 18, path: "l"),
        .symlink(id: 19, linkPath: "l", targetPath: "t"),
        .extended(id: 20, name: "statvfs@openssh.com"), .unknown(type: 99, id: 21),
    ]

    @Test("every request survives encode then decode", arguments: requests)
    func requestRoundTrip(_ request: SFTPRequest) throws {
        var wire = SFTPCodec.encode(request)
        let frame = try #require(try SFTPCodec.nextFrame(&wire))
        #expect(wire.readableBytes == 0)
        #expect(try SFTPCodec.decodeRequest(frame) == request)
    }

    static let responses: [SFTPResponse] = [
        .version(3, extensions: []),
        .status(id: 1, code: .noSuchFile, message: "/x: no such file or directory"),
        .handle(id: 2, handle: "42"),
        .data(id: 3, data: ByteBuffer(bytes: Array(repeating: 7, count: 32768))),
        .name(
            id: 4,
            entries: [
                SFTPNameEntry(filename: "a.csv", longname: "-rw-r--r-- a.csv", attributes: attributes),
                SFTPNameEntry(filename: "d", longname: "d", attributes: SFTPAttributes(permissions: 0o040755)),
            ]),
        .attributes(id: 5, attributes: attributes),
    ]

    @Test("every reply survives encode then decode", arguments: responses)
    func responseRoundTrip(_ response: SFTPResponse) throws {
        var wire = SFTPCodec.encode(response)
        let frame = try #require(try SFTPCodec.nextFrame(&wire))
        #expect(try SFTPCodec.decodeResponse(frame) == response)
    }

    @Test("frames split across reads are joined; a partial frame waits for more")
    func framing() throws {
        var all = SFTPCodec.encode(SFTPRequest.realpath(id: 1, path: "."))
        var second = SFTPCodec.encode(SFTPRequest.stat(id: 2, path: "/x"))
        all.writeBuffer(&second)
        var partial = all.getSlice(at: 0, length: 10)!
        #expect(try SFTPCodec.nextFrame(&partial) == nil)
        var frames: [SFTPRequest] = []
        while let f = try SFTPCodec.nextFrame(&all) { frames.append(try SFTPCodec.decodeRequest(f)) }
        #expect(frames == [.realpath(id: 1, path: "."), .stat(id: 2, path: "/x")])
    }

    @Test("a runaway length is refused instead of buffered")
    func hugeLength() {
        var b = ByteBuffer()
        b.writeInteger(UInt32(64 << 20))
        #expect(throws: SFTPProtocolError.self) { try SFTPCodec.nextFrame(&b) }
    }

    @Test("a truncated request names itself and keeps its id, so it can be answered BAD_MESSAGE")
    func truncated() throws {
        var b = ByteBuffer()
        b.writeInteger(SFTPPacketType.read.rawValue)
        b.writeInteger(UInt32(77))
        b.writeInteger(UInt32(1))
        b.writeString("h")
        b.writeInteger(UInt32(0))  // half of the 64-bit offset
        let error = try #require(throws: SFTPProtocolError.self) { try SFTPCodec.decodeRequest(b) }
        #expect(error.id == 77)
        #expect(error.message.contains("truncated"))
    }

    @Test("a name that is not UTF-8 decodes visibly wrong, and the path rules refuse it")
    func notUTF8() throws {
        var b = ByteBuffer()
        b.writeInteger(SFTPPacketType.stat.rawValue)
        b.writeInteger(UInt32(5))
        b.writeInteger(UInt32(3))
        b.writeBytes([0x61, 0xFF, 0x62])
        guard case .stat(_, let path) = try SFTPCodec.decodeRequest(b) else {
            Issue.record("not a STAT")
            return
        }
        let error = try #require(throws: SFTPStatusError.self) { try VirtualPath(resolving: path) }
        #expect(error.message.contains("not valid UTF-8"))
    }

    @Test("ls -l lines look like OpenSSH's")
    func longName() {
        let file = SFTPLongName.format(
            name: "orders.csv",
            attributes: SFTPAttributes(
                size: 1234, permissions: 0o100644,
                modificationTime: 1_700_000_000),
            owner: "acme")
        #expect(file.hasPrefix("-rw-r--r--    1 acme     acme         1234 Nov 14 "))
        #expect(file.hasSuffix(" orders.csv"))
        let dir = SFTPLongName.format(name: "in", attributes: SFTPAttributes(permissions: 0o040755), owner: "acme")
        #expect(dir.hasPrefix("drwxr-xr-x"))
        #expect(SFTPLongName.civil(951_782_400) == (2000, 2, 29, 0, 0))
    }
}

@Suite("Reply sizes")
struct ReplySizeTests {
    @Test("encodedLength(of:) is what a NAME entry takes on the wire, so listings can be cut at 256 KiB")
    func nameEntryLength() {
        let entries = [
            SFTPNameEntry(filename: "a.csv", longname: "-rw-r--r-- a.csv", attributes: ProtocolTests.attributes),
            SFTPNameEntry(filename: String(repeating: "ação", count: 60), longname: "x", attributes: .empty),
        ]
        let whole = SFTPCodec.encode(.name(id: 1, entries: entries))
        #expect(
            whole.readableBytes == 4 + SFTPCodec.nameReplyOverhead
                + entries.map(SFTPCodec.encodedLength(of:)).reduce(0, +))
    }

    @Test("the largest DATA reply fits OpenSSH's 256 KiB message limit")
    func dataReply() {
        let reply = SFTPCodec.encode(
            .data(id: 1, data: ByteBuffer(bytes: [UInt8](repeating: 1, count: SFTPCodec.maximumReadLength))))
        #expect(reply.readableBytes - 4 <= SFTPCodec.maximumReplyLength)
    }
}
