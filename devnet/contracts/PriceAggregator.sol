// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title A Chainlink-style price aggregator the devnet sets by hand
/// @notice Implements Chainlink's AggregatorV3Interface so Perpetual Protocol's ChainlinkPriceFeedV3 can wrap it
///         as the index price of a devnet market. The owner (the devnet's deployer) starts each round with
///         `submit`; the round's timestamps are the block's, as a Chainlink report's are.
contract PriceAggregator {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    address public immutable owner;
    uint8 public immutable decimals;
    string public description;
    uint80 public latestRound;
    mapping(uint80 => Round) internal _rounds;

    /// Chainlink's own aggregator events, so log readers written for real feeds read these too.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    constructor(uint8 decimals_, string memory description_) {
        owner = msg.sender;
        decimals = decimals_;
        description = description_;
    }

    /// Any answer is accepted (a non-positive one too): the consumer's freeze rules are what a test exercises.
    function submit(int256 answer) external returns (uint80 roundId) {
        require(msg.sender == owner, "PA_NO"); // not the owner
        roundId = latestRound + 1;
        latestRound = roundId;
        _rounds[roundId] = Round(answer, block.timestamp, block.timestamp);
        emit NewRound(roundId, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }

    function version() external pure returns (uint256) {
        return 4; // what Chainlink's current OCR aggregators report
    }

    function getRoundData(uint80 roundId)
        public
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Round memory round = _rounds[roundId];
        // Chainlink reverts for a round it never had, rather than answering zeros.
        require(round.updatedAt != 0, "No data present");
        return (roundId, round.answer, round.startedAt, round.updatedAt, roundId);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(latestRound);
    }
}
