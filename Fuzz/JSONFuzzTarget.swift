import Foundation

// libFuzzer entry point for the reader of every AWS JSON answer (Sources/EsteiraAWS/Core/JSONParser.swift
// and JSONValue.swift, compiled into one module with this file by Fuzz/run.sh). AWS answers are outside
// input too: lost, truncated, or from a proxy or an emulator that gets them wrong.
//
// What every input must keep, checked here:
// - no trap, no sanitizer report, no stack overflow (nesting is capped);
// - a refused text names a byte offset inside it;
// - a value read is stable: written out (`encoded()`) and read again, it is the same value.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let value: JSONValue
    do {
        value = try JSONParser.parse(bytes)
    } catch {
        precondition(error.offset >= 0 && error.offset <= size, "offset \(error.offset) outside \(size) bytes")
        precondition(!error.description.isEmpty)
        return 0
    }
    let written = value.encoded()
    guard let again = try? JSONParser.parse(written) else {
        preconditionFailure("the value read could not be read back: \(String(decoding: written, as: UTF8.self))")
    }
    precondition(
        again == value,
        "read back differently: \(value) became \(again) via \(String(decoding: written, as: UTF8.self))")
    return 0
}
