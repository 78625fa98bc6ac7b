// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title ReadLens: every venue of one chain in ONE eth_call.
/// @notice Never deployed: crosshedge runs it with eth_call and a state override that puts this runtime code at a
/// fixed dummy address, pinned to a block. It executes arbitrary read calls (like UniswapInterfaceMulticall, with
/// the same result layout) and walks tick bitmaps itself, so the pool heads, the bitmap words of the read window and
/// every initialized tick's liquidity come back together instead of in three dependent rounds. A walk's ``kind``
/// says where the bitmap lives: a Uniswap V3 pool's own getters, or Uniswap V4's StateView for a pool id (V4 pools
/// all live in PoolManager, and StateView has no tickSpacing getter, so the walk carries the key's spacing).
/// Walks are bounded by gas and by the output buffer: a walk that runs out stops at a whole word and reports where,
/// and the caller continues from there in another call at the same block.
contract ReadLens {
    struct Call {
        address target;
        uint256 gasLimit;
        bytes callData;
    }

    struct Result {
        bool success;
        uint256 gasUsed;
        bytes returnData;
    }

    /// A pool's read window: ``windowTicks`` each side of its current tick, or (``ranged``) the words
    /// ``fromWord``..``toWord`` inclusive (a continuation of an earlier call). ``target`` is the V3 pool, or
    /// (KIND_V4) the StateView serving pool ``poolId`` of tick spacing ``spacing``; both are ignored for V3.
    struct Walk {
        address target;
        uint256 kind;
        bytes32 poolId;
        int256 spacing;
        int256 windowTicks;
        bool ranged;
        int256 fromWord;
        int256 toWord;
    }

    int256 internal constant MIN_TICK = -887272;
    int256 internal constant MAX_TICK = 887272;
    uint256 internal constant HEADER = 6; // status, tick, spacing, lo, hi, next
    bytes4 internal constant SLOT0 = bytes4(keccak256("slot0()"));
    bytes4 internal constant TICK_SPACING = bytes4(keccak256("tickSpacing()"));
    bytes4 internal constant TICK_BITMAP = bytes4(keccak256("tickBitmap(int16)"));
    bytes4 internal constant TICKS = bytes4(keccak256("ticks(int24)"));
    bytes4 internal constant V4_SLOT0 = bytes4(keccak256("getSlot0(bytes32)"));
    bytes4 internal constant V4_TICK_BITMAP = bytes4(keccak256("getTickBitmap(bytes32,int16)"));
    bytes4 internal constant V4_TICK_LIQUIDITY = bytes4(keccak256("getTickLiquidity(bytes32,int24)"));
    uint256 internal constant KIND_V3 = 0;
    uint256 internal constant KIND_V4 = 1;

    /// @notice Runs ``calls`` then ``walks`` at the current block.
    /// @param reserveGas a walk reads another word only while gasleft() exceeds this (one word of 256 ticks plus
    /// encoding the answer must fit in it)
    /// @param maxOut size of the walk output buffer, in words
    /// @return blockNumber the block the calls ran in (first, so the result starts like multicall's)
    /// @return results one per call, in order
    /// @return timestamp the block's timestamp
    /// @return baseFee the block's base fee
    /// @return out per walk: status (1 read, 0 not a pool), tick, spacing, lo, hi, next (first word not read),
    /// then for each word lo..next-1 its bitmap value followed by (liquidityGross, liquidityNet) of each set bit,
    /// lowest first
    function read(Call[] calldata calls, Walk[] calldata walks, uint256 reserveGas, uint256 maxOut)
        external
        returns (
            uint256 blockNumber,
            Result[] memory results,
            uint256 timestamp,
            uint256 baseFee,
            uint256[] memory out
        )
    {
        blockNumber = block.number;
        timestamp = block.timestamp;
        baseFee = block.basefee;
        results = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; ++i) {
            results[i] = _call(calls[i]);
        }
        out = _walks(walks, reserveGas, maxOut);
    }

    /// The walks' output, written straight past the free memory pointer and claimed once its size is known, so
    /// memory is paid for only as far as it is used (a buffer allocated up front cost more than the walks).
    function _walks(Walk[] calldata walks, uint256 reserveGas, uint256 maxOut)
        private
        view
        returns (uint256[] memory out)
    {
        assembly {
            out := mload(0x40)
        }
        uint256 n = 0;
        for (uint256 i = 0; i < walks.length; ++i) {
            n = _walk(walks[i], out, n, reserveGas, maxOut);
        }
        assembly {
            mstore(out, n)
            mstore(0x40, add(out, mul(add(n, 1), 0x20)))
        }
    }

    /// ``out[i] = v`` without the bounds check: ``out``'s length is only written at the end.
    function _put(uint256[] memory out, uint256 i, uint256 v) private pure {
        assembly {
            mstore(add(out, mul(add(i, 1), 0x20)), v)
        }
    }

    function _call(Call calldata c) private returns (Result memory r) {
        uint256 before = gasleft();
        (r.success, r.returnData) = c.target.call{gas: c.gasLimit}(c.callData);
        r.gasUsed = before - gasleft();
    }

    function _walk(Walk calldata w, uint256[] memory out, uint256 n, uint256 reserveGas, uint256 maxOut)
        private
        view
        returns (uint256)
    {
        uint256 h = n;
        for (uint256 k = 0; k < HEADER; ++k) _put(out, h + k, 0); // status 0 unless the walk gets through
        n += HEADER;
        (bool okHead, int256 tick, int256 spacing) = _head(w);
        if (!okHead || spacing <= 0 || spacing > 16384 || tick < MIN_TICK || tick > MAX_TICK) {
            return n; // status 0: the caller's own calls say why the address is not a pool
        }
        (int256 lo, int256 hi) = w.ranged ? (w.fromWord, w.toWord) : _window(tick, spacing, w.windowTicks);
        int256 word = lo;
        for (; word <= hi; ++word) {
            // A word with all 256 bits set needs 513 slots; stop at a whole word so the caller resumes cleanly.
            if (gasleft() < reserveGas || n + 513 > maxOut) break;
            (bool ok, uint256 bits, ) = _at(w, TICK_BITMAP, V4_TICK_BITMAP, word, 32);
            if (!ok) return h + HEADER;
            _put(out, n++, bits);
            while (bits != 0) {
                uint256 bit = _lowestBit(bits);
                bits &= bits - 1;
                int256 t = ((word << 8) + int256(bit)) * spacing;
                (bool okT, uint256 gross, uint256 net) = _at(w, TICKS, V4_TICK_LIQUIDITY, t, 64);
                if (!okT) return h + HEADER;
                _put(out, n++, gross);
                _put(out, n++, net);
            }
        }
        _put(out, h, 1);
        _put(out, h + 1, uint256(tick));
        _put(out, h + 2, uint256(spacing));
        _put(out, h + 3, uint256(lo));
        _put(out, h + 4, uint256(hi));
        _put(out, h + 5, uint256(word));
        return n;
    }

    /// ``w``'s getter for ``arg``: the V3 pool's ``v3``, or StateView's ``v4`` for the walk's pool id (a helper, not
    /// locals in the walk, whose loop already keeps as many values live as the stack allows).
    function _at(Walk calldata w, bytes4 v3, bytes4 v4, int256 arg, uint256 need)
        private
        view
        returns (bool ok, uint256 a, uint256 b)
    {
        bool isV4 = w.kind == KIND_V4;
        return _read(w.target, isV4 ? v4 : v3, isV4, w.poolId, arg, true, need);
    }

    /// The pool's current tick and spacing: a V3 pool's slot0() and tickSpacing(); for V4, StateView's
    /// getSlot0(id) (tick is its second word; an uninitialized pool has sqrtPriceX96 0) and the walk's spacing.
    function _head(Walk calldata w) private view returns (bool ok, int256 tick, int256 spacing) {
        if (w.kind == KIND_V4) {
            (bool okS, uint256 sqrtPrice, uint256 tickWord) = _read(w.target, V4_SLOT0, true, w.poolId, 0, false, 64);
            return (okS && sqrtPrice != 0, int256(tickWord), w.spacing);
        }
        if (w.kind != KIND_V3) return (false, 0, 0);
        (bool ok0, , uint256 tickWord3) = _read(w.target, SLOT0, false, 0, 0, false, 64);
        (bool ok1, uint256 spacingWord, ) = _read(w.target, TICK_SPACING, false, 0, 0, false, 32);
        return (ok0 && ok1, int256(tickWord3), int256(spacingWord));
    }

    /// Words covering tick ± window, clamped to the valid tick range: the reader's ``word_window`` exactly
    /// (floor division by the spacing, then an arithmetic shift).
    function _window(int256 tick, int256 spacing, int256 window) private pure returns (int256 lo, int256 hi) {
        int256 a = tick - window < MIN_TICK ? MIN_TICK : tick - window;
        int256 b = tick + window > MAX_TICK ? MAX_TICK : tick + window;
        lo = _floorDiv(a, spacing) >> 8;
        hi = _floorDiv(b, spacing) >> 8;
    }

    function _floorDiv(int256 a, int256 b) private pure returns (int256 q) {
        q = a / b;
        if (a % b != 0 && (a < 0) != (b < 0)) q -= 1;
    }

    /// Index of the lowest set bit of a non-zero word.
    function _lowestBit(uint256 x) private pure returns (uint256 r) {
        if (x & type(uint128).max == 0) { r += 128; x >>= 128; }
        if (x & type(uint64).max == 0) { r += 64; x >>= 64; }
        if (x & type(uint32).max == 0) { r += 32; x >>= 32; }
        if (x & type(uint16).max == 0) { r += 16; x >>= 16; }
        if (x & type(uint8).max == 0) { r += 8; x >>= 8; }
        if (x & 0xf == 0) { r += 4; x >>= 4; }
        if (x & 0x3 == 0) { r += 2; x >>= 2; }
        if (x & 0x1 == 0) { r += 1; }
    }

    /// A view call returning its first two words, in the scratch space at 0x00 (allocating per call would make the
    /// quadratic memory cost dominate a long walk, and the output grows past the free memory pointer). With ``withId``
    /// the pool id precedes the argument, so the calldata (0x44 bytes) runs over the free memory pointer's slot,
    /// which is saved and put back. ``ok`` only when it succeeded with at least ``need`` bytes.
    function _read(address target, bytes4 selector, bool withId, bytes32 id, int256 arg, bool withArg, uint256 need)
        private
        view
        returns (bool ok, uint256 a, uint256 b)
    {
        assembly {
            let fmp := mload(0x40)
            mstore(0, selector)
            let size := 4
            if withId {
                mstore(4, id)
                size := 0x24
            }
            if withArg {
                mstore(size, arg)
                size := add(size, 0x20)
            }
            ok := staticcall(gas(), target, 0, size, 0, 0x40)
            if lt(returndatasize(), need) { ok := 0 }
            a := mload(0)
            b := mload(0x20)
            if lt(returndatasize(), 0x40) { b := 0 }
            mstore(0x40, fmp)
        }
    }
}
