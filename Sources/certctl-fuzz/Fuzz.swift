import CertctlFuzz
import Foundation

// Built two ways (scripts/fuzz):
// - normally: `certctl-fuzz TARGET FILE...` runs each file through the target (a replayer);
// - with `-sanitize=fuzzer -D FUZZING`: libFuzzer drives `LLVMFuzzerTestOneInput`, and
//   CERTCTL_FUZZ_TARGET names the target. SwiftPM links an executable's entry point under its
//   own name (`certctl_fuzz_main`), so that entry hands over to libFuzzer's driver.

#if FUZZING
    nonisolated(unsafe) private var selected: FuzzTarget?

    public typealias Argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<Argv?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("certctl_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: Argv?) -> CInt {
        var count = argc
        var arguments = argv
        return runDriver(&count, &arguments, fuzzOne)
    }

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        if selected == nil {
            let name = ProcessInfo.processInfo.environment["CERTCTL_FUZZ_TARGET"] ?? ""
            guard let target = FuzzTarget(rawValue: name) else {
                fatalError(
                    "set CERTCTL_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            selected = target
        }
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        selected!.run(bytes)
        return 0
    }
#else
    @main
    struct Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                FileHandle.standardError.write(
                    Data(
                        "usage: certctl-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE...\n"
                            .utf8))
                exit(64)
            }
            for file in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                    exit(66)
                }
                target.run(Array(data))
            }
            print("\(target.rawValue): \(arguments.count - 1) inputs, no crash")
        }
    }
#endif
