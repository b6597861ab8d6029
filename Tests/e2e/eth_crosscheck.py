#!/usr/bin/env python3
"""eth-account's side of the payment cross-check (Tests/e2e/eth_crosscheck.sh).

eth-account is an Ethereum implementation nobody here wrote: if it and warren agree on the
address of a key, the EIP-712 digest of a voucher and each other's signatures, warren's
Keccak-256, EIP-712 encoding and secp256k1 signatures are what a contract's ecrecover sees.

usage:
  eth_crosscheck.py address KEY
  eth_crosscheck.py digest  CHANNEL AMOUNT CHAIN_ID CONTRACT NAME VERSION
  eth_crosscheck.py sign    KEY CHANNEL AMOUNT CHAIN_ID CONTRACT NAME VERSION
  eth_crosscheck.py recover SIGNATURE CHANNEL AMOUNT CHAIN_ID CONTRACT NAME VERSION
  eth_crosscheck.py highs   SIGNATURE      (the malleated twin: s -> n - s, v flipped)
  eth_crosscheck.py randkey                (a fresh private key, hex)
Hex is printed with a 0x prefix; addresses in EIP-55 form.
"""
import secrets
import sys

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def voucher_message(channel, amount, chain_id, contract, name, version):
    return encode_typed_data(
        domain_data={
            "name": name,
            "version": version,
            "chainId": int(chain_id),
            "verifyingContract": contract,
        },
        message_types={
            "Voucher": [
                {"name": "channelId", "type": "bytes32"},
                {"name": "cumulativeAmount", "type": "uint256"},
            ]
        },
        message_data={"channelId": bytes.fromhex(channel.removeprefix("0x")), "cumulativeAmount": int(amount)},
    )


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "address":
        print(Account.from_key(args[0]).address)
    elif command == "digest":
        message = voucher_message(*args)
        print("0x" + keccak(b"\x19" + message.version + message.header + message.body).hex())
    elif command == "sign":
        signed = Account.sign_message(voucher_message(*args[1:]), args[0])
        print("0x" + bytes(signed.signature).hex())
    elif command == "recover":
        print(Account.recover_message(voucher_message(*args[1:]), signature=bytes.fromhex(args[0].removeprefix("0x"))))
    elif command == "highs":
        raw = bytes.fromhex(args[0].removeprefix("0x"))
        s = int.from_bytes(raw[32:64], "big")
        v = 55 - raw[64]  # 27 <-> 28
        print("0x" + (raw[:32] + (N - s).to_bytes(32, "big") + bytes([v])).hex())
    elif command == "randkey":
        print("0x" + secrets.token_bytes(32).hex())
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
