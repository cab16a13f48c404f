//! Building, funding, signing and committing transactions (Core's `wallet/spend.cpp` and
//! `CommitTransaction`): feerate choice, size estimation, coin selection, change, PSBT
//! signing with rust-bitcoin and finalizing with miniscript.

use std::collections::{BTreeMap, HashMap};

use bitcoin::absolute::LockTime;
use bitcoin::psbt::{Psbt, PsbtSighashType};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use miniscript::descriptor::KeyMapWrapper;
use miniscript::psbt::PsbtExt;

use super::coin_selection::{self, Candidate};
use super::keys::{self, OutputType};
use super::model::{TxState, Wallet};

/// Core's `DEFAULT_TX_CONFIRM_TARGET`.
pub const DEFAULT_CONFIRM_TARGET: u32 = 6;
/// Core's `DEFAULT_TRANSACTION_MINFEE` (sat/kvB).
pub const MIN_TX_FEE: u64 = 1000;
/// Core's `DEFAULT_TRANSACTION_MAXFEE` (0.1 BTC).
pub const DEFAULT_MAX_TX_FEE: u64 = 10_000_000;

/// A preset input: where, what it spends, and its sequence if given.
type PresetInput = (OutPoint, TxOut, Option<Sequence>);

/// A payment.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Destination script.
    pub script: ScriptBuf,
    /// Amount in satoshis.
    pub amount: u64,
    /// Whether the fee comes out of this output.
    pub subtract_fee: bool,
}

/// Options of a funding request (Core's `CCoinControl` and friends).
#[derive(Debug, Clone, Default)]
pub struct FundOptions {
    /// Explicit feerate in sat/kvB.
    pub fee_rate: Option<u64>,
    /// Confirmation target for fee estimation.
    pub conf_target: Option<u32>,
    /// Economical (false) or conservative (true) estimation.
    pub conservative: bool,
    /// Signal BIP125 replaceability (default `-walletrbf`).
    pub replaceable: Option<bool>,
    /// Output type of the change.
    pub change_type: Option<OutputType>,
    /// Explicit change destination.
    pub change_script: Option<ScriptBuf>,
    /// Position of the change output.
    pub change_position: Option<usize>,
    /// Inputs that must be spent, with their outputs when known.
    pub preset_inputs: Vec<(OutPoint, Option<Sequence>)>,
    /// Whether more inputs may be added to the preset ones.
    pub add_inputs: bool,
    /// Whether unconfirmed coins from others may be used.
    pub include_unsafe: bool,
    /// Minimum confirmations of selected coins.
    pub min_conf: i64,
    /// Locktime (default anti-fee-sniping: the tip height).
    pub locktime: Option<u32>,
    /// Lock the selected coins (`lockUnspents`).
    pub lock_unspents: bool,
    /// Version of the transaction.
    pub version: Option<i32>,
}

/// A funded, unsigned transaction.
#[derive(Debug, Clone)]
pub struct Funded {
    /// The transaction (unsigned).
    pub tx: Transaction,
    /// Fee in satoshis.
    pub fee: u64,
    /// Position of the change output, if any.
    pub change_pos: Option<usize>,
    /// Feerate used (sat/kvB).
    pub fee_rate: u64,
}

/// Errors of funding, with the kind Core reports them as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FundError {
    /// Not enough money (`RPC_WALLET_INSUFFICIENT_FUNDS` in send RPCs).
    InsufficientFunds(String),
    /// Anything else (`RPC_WALLET_ERROR`).
    Other(String),
}

impl FundError {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            FundError::InsufficientFunds(m) | FundError::Other(m) => m,
        }
    }
}

/// Fee for `weight` weight units at `rate` sat/kvB, rounded up as Core's `GetFee` does.
pub fn fee_at(rate: u64, weight: u64) -> u64 {
    // Saturating: an absurd user feerate must hit the -maxtxfee check, not wrap.
    rate.saturating_mul(weight.div_ceil(4)).div_ceil(1000)
}

/// Parses a BTC/kvB setting (e.g. `-fallbackfee=0.0002`) into sat/kvB.
pub fn setting_rate(wallet: &Wallet, name: &str) -> Option<u64> {
    let v = wallet.chain.get_settings_list(name).pop()?;
    let a = Amount::from_str_in(v.trim(), bitcoin::Denomination::Bitcoin).ok()?;
    Some(a.to_sat())
}

/// Upper bound of the weight of an input spending `script` (Core's `CalculateMaximumSignedInputSize`).
pub fn input_weight(script: &bitcoin::Script) -> u64 {
    if script.is_p2wpkh() {
        41 * 4 + 108
    } else if script.is_p2sh() {
        64 * 4 + 108
    } else if script.is_p2tr() {
        41 * 4 + 66
    } else if script.is_p2pk() {
        (41 + 73) * 4
    } else {
        (41 + 107) * 4
    }
}

fn is_witness_spend(script: &bitcoin::Script) -> bool {
    script.is_witness_program() || script.is_p2sh()
}

fn varint_len(n: usize) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        _ => 5,
    }
}

fn output_weight(o: &TxOut) -> u64 {
    (8 + varint_len(o.script_pubkey.len()) + o.script_pubkey.len() as u64) * 4
}

fn random_below(n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let mut b = [0u8; 8];
    super::encryption::random_bytes(&mut b);
    (u64::from_le_bytes(b) % n as u64) as usize
}

impl Wallet {
    /// Whether unconfirmed change may be spent (`-spendzeroconfchange`, default on).
    pub fn spend_zero_conf_change(&self) -> bool {
        self.chain
            .get_settings_list("spendzeroconfchange")
            .pop()
            .is_none_or(|v| v != "0")
    }

    /// Whether new transactions signal BIP125 (`-walletrbf`, default on).
    pub fn default_rbf(&self) -> bool {
        self.chain
            .get_settings_list("walletrbf")
            .pop()
            .is_none_or(|v| v != "0")
    }

    /// `-maxtxfee` in satoshis.
    pub fn max_tx_fee(&self) -> u64 {
        setting_rate(self, "maxtxfee").unwrap_or(DEFAULT_MAX_TX_FEE)
    }

    /// Core's `GetMinimumFeeRate`: explicit rate, else `-paytxfee`, else the estimate for
    /// the target, else `-fallbackfee`; never below the relay and wallet minimums.
    pub fn fee_rate(&self, opts: &FundOptions) -> Result<u64, FundError> {
        let floor = self
            .chain
            .relay_min_fee()
            .max(setting_rate(self, "mintxfee").unwrap_or(MIN_TX_FEE));
        if let Some(r) = opts.fee_rate {
            return Ok(r);
        }
        if opts.conf_target.is_none() {
            let pay = (*self.pay_tx_fee.lock()).or_else(|| setting_rate(self, "paytxfee"));
            if let Some(r) = pay.filter(|r| *r > 0) {
                return Ok(r.max(floor));
            }
        }
        let target = opts.conf_target.unwrap_or_else(|| {
            self.chain
                .get_settings_list("txconfirmtarget")
                .pop()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_CONFIRM_TARGET)
        });
        let est = self.estimate_fee(target, opts.conservative);
        let rate = match est.fee_rate {
            Some(r) => r,
            None => match setting_rate(self, "fallbackfee").filter(|r| *r > 0) {
                Some(r) => r,
                None => {
                    return Err(FundError::Other(
                        "Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable -fallbackfee.".into(),
                    ))
                }
            },
        };
        Ok(rate.max(floor))
    }

    /// Picks the change script: explicit, else a fresh internal address of the change type.
    fn change_script(
        &self,
        opts: &FundOptions,
        recipients: &[Recipient],
    ) -> Result<ScriptBuf, FundError> {
        if let Some(s) = &opts.change_script {
            return Ok(s.clone());
        }
        let t = opts.change_type.unwrap_or_else(|| {
            let default = self
                .chain
                .get_settings_list("changetype")
                .pop()
                .and_then(|v| OutputType::parse(&v))
                .or_else(|| {
                    self.chain
                        .get_settings_list("addresstype")
                        .pop()
                        .and_then(|v| OutputType::parse(&v))
                });
            default.unwrap_or_else(|| {
                // Core matches a taproot recipient with taproot change when it can.
                if recipients.iter().any(|r| r.script.is_p2tr())
                    && self.state().active_pos(OutputType::Bech32m, true).is_some()
                {
                    OutputType::Bech32m
                } else {
                    OutputType::Bech32
                }
            })
        });
        self.new_change_script(t).map_err(|_| {
            FundError::Other("Transaction needs a change address, but we can't generate it.".into())
        })
    }

    /// Core's `CreateTransaction` (without signing): selects coins for `recipients` plus the
    /// preset inputs and outputs of `base`, and adds change.
    pub fn fund(
        &self,
        base: Option<&Transaction>,
        recipients: &[Recipient],
        opts: &FundOptions,
    ) -> Result<Funded, FundError> {
        let rate = self.fee_rate(opts)?;
        for r in recipients {
            let out = TxOut {
                value: Amount::from_sat(r.amount),
                script_pubkey: r.script.clone(),
            };
            if !r.subtract_fee && r.amount < crate::policy::dust_threshold(&out) {
                return Err(FundError::Other("Transaction amount too small".into()));
            }
        }
        let zero_conf = self.spend_zero_conf_change();
        let rbf = opts.replaceable.unwrap_or_else(|| self.default_rbf());
        let default_seq = if rbf {
            Sequence::ENABLE_RBF_NO_LOCKTIME
        } else {
            Sequence::ENABLE_LOCKTIME_NO_RBF
        };
        let (coins, preset): (Vec<_>, Vec<PresetInput>) = {
            let s = self.state();
            let coins = s.available_coins(
                opts.min_conf,
                i64::MAX,
                opts.include_unsafe,
                false,
                zero_conf,
            );
            let mut preset = Vec::new();
            for (op, seq) in &opts.preset_inputs {
                let out = s
                    .txs
                    .get(&op.txid)
                    .and_then(|w| w.tx.output.get(op.vout as usize))
                    .cloned();
                match out {
                    Some(o) if s.is_mine(&o.script_pubkey) => preset.push((*op, o, *seq)),
                    Some(_) | None => {
                        return Err(FundError::Other(format!(
                            "Unable to find UTXO for external input {op}"
                        )))
                    }
                }
            }
            (coins, preset)
        };
        let subtract = recipients.iter().any(|r| r.subtract_fee);
        let recipient_total: u64 = recipients.iter().map(|r| r.amount).sum();
        let base_outputs: Vec<TxOut> = base.map(|b| b.output.clone()).unwrap_or_default();
        let mut outputs: Vec<TxOut> = base_outputs.clone();
        outputs.extend(recipients.iter().map(|r| TxOut {
            value: Amount::from_sat(r.amount),
            script_pubkey: r.script.clone(),
        }));
        let base_out_total: u64 = base_outputs.iter().map(|o| o.value.to_sat()).sum();
        let change_script = self.change_script(opts, recipients)?;
        let change_proto = TxOut {
            value: Amount::ZERO,
            script_pubkey: change_script.clone(),
        };
        let change_fee = fee_at(rate, output_weight(&change_proto));
        let change_spend_fee = fee_at(rate, input_weight(&change_script));
        let cost_of_change = change_fee + change_spend_fee;
        let change_dust = crate::policy::dust_threshold(&change_proto);
        // Weight of everything but the inputs (witness flag counted when any input is segwit).
        let n_in_guess = preset.len() + 1;
        let fixed = 4 * (4 + 4 + varint_len(n_in_guess) + varint_len(outputs.len() + 1))
            + outputs.iter().map(output_weight).sum::<u64>()
            + 2;
        let preset_weight: u64 = preset
            .iter()
            .map(|(_, o, _)| input_weight(&o.script_pubkey))
            .sum();
        let preset_value: u64 = preset.iter().map(|(_, o, _)| o.value.to_sat()).sum();
        let to_pay = recipient_total + base_out_total;
        let fixed_fee = fee_at(rate, fixed + preset_weight);
        let preset_ops: Vec<OutPoint> = preset.iter().map(|(o, _, _)| *o).collect();
        let candidates: Vec<(OutPoint, TxOut)> = coins
            .into_iter()
            .filter(|c| !preset_ops.contains(&c.outpoint))
            .map(|c| (c.outpoint, c.txout))
            .collect();
        let cands: Vec<Candidate> = candidates
            .iter()
            .map(|(_, o)| Candidate {
                value: o.value.to_sat(),
                fee: if subtract {
                    0
                } else {
                    fee_at(rate, input_weight(&o.script_pubkey))
                },
            })
            .collect();
        let need = if subtract { to_pay } else { to_pay + fixed_fee };
        let have = if subtract {
            preset_value
        } else {
            preset_value.saturating_sub(fee_at(rate, preset_weight))
        };
        let selected: Vec<usize> = if have >= need && (!preset_ops.is_empty() || need == 0) {
            Vec::new()
        } else if !opts.add_inputs && !preset_ops.is_empty() {
            return Err(FundError::InsufficientFunds("Insufficient funds".into()));
        } else {
            let target = need - have.min(need);
            coin_selection::select(&cands, target, cost_of_change, change_fee + change_dust)
                .ok_or_else(|| FundError::InsufficientFunds("Insufficient funds".into()))?
        };
        // Assemble inputs.
        let mut inputs: Vec<(OutPoint, TxOut, Sequence)> = preset
            .iter()
            .map(|(op, o, seq)| (*op, o.clone(), seq.unwrap_or(default_seq)))
            .collect();
        for &i in &selected {
            inputs.push((candidates[i].0, candidates[i].1.clone(), default_seq));
        }
        if inputs.is_empty() {
            return Err(FundError::InsufficientFunds("Insufficient funds".into()));
        }
        let in_total: u64 = inputs.iter().map(|(_, o, _)| o.value.to_sat()).sum();
        let any_witness = inputs
            .iter()
            .any(|(_, o, _)| is_witness_spend(&o.script_pubkey));
        let weight_no_change = 4 * (4 + 4 + varint_len(inputs.len()) + varint_len(outputs.len()))
            + outputs.iter().map(output_weight).sum::<u64>()
            + inputs
                .iter()
                .map(|(_, o, _)| input_weight(&o.script_pubkey))
                .sum::<u64>()
            + if any_witness { 2 } else { 0 };
        let fee_no_change = fee_at(rate, weight_no_change);
        let fee_with_change = fee_no_change + change_fee;
        let mut change_value = 0u64;
        let fee;
        if subtract {
            let excess = in_total.saturating_sub(to_pay);
            if excess > cost_of_change && excess >= change_dust {
                change_value = excess;
                fee = fee_with_change;
            } else {
                // Excess goes to the fee; recipients pay the rest.
                fee = fee_no_change.max(excess);
            }
            let from_recipients = if change_value > 0 {
                fee
            } else {
                fee.saturating_sub(excess)
            };
            let n = recipients.iter().filter(|r| r.subtract_fee).count() as u64;
            let mut first = true;
            let base_len = base_outputs.len();
            for (k, r) in recipients.iter().enumerate() {
                if !r.subtract_fee {
                    continue;
                }
                let mut share = from_recipients / n;
                if first {
                    share += from_recipients % n;
                    first = false;
                }
                let out = &mut outputs[base_len + k];
                if out.value.to_sat() <= share {
                    return Err(FundError::Other(
                        "The transaction amount is too small to pay the fee".into(),
                    ));
                }
                out.value = Amount::from_sat(out.value.to_sat() - share);
                if out.value.to_sat() < crate::policy::dust_threshold(out) {
                    return Err(FundError::Other(
                        "The transaction amount is too small after subtracting the fee".into(),
                    ));
                }
            }
        } else {
            if in_total < to_pay + fee_no_change {
                return Err(FundError::InsufficientFunds("Insufficient funds".into()));
            }
            let excess = in_total - to_pay - fee_no_change;
            if excess > cost_of_change && excess - change_fee >= change_dust {
                change_value = excess - change_fee;
                fee = fee_with_change;
            } else {
                fee = in_total - to_pay;
            }
        }
        if fee > self.max_tx_fee() {
            return Err(FundError::Other(
                "Fee exceeds maximum configured by user (e.g. -paytxfee, -maxtxfee, maxfeerate)"
                    .into(),
            ));
        }
        let mut change_pos = None;
        if change_value > 0 {
            let pos = match opts.change_position {
                Some(p) if p <= outputs.len() => p,
                Some(_) => return Err(FundError::Other("Change position is out of range".into())),
                None => random_below(outputs.len() + 1),
            };
            outputs.insert(
                pos,
                TxOut {
                    value: Amount::from_sat(change_value),
                    script_pubkey: change_script,
                },
            );
            change_pos = Some(pos);
        }
        let locktime = opts.locktime.unwrap_or_else(|| {
            base.map(|b| b.lock_time.to_consensus_u32())
                .filter(|l| *l != 0)
                .unwrap_or_else(|| self.state().tip_height().max(0) as u32)
        });
        let tx = Transaction {
            version: Version(opts.version.or(base.map(|b| b.version.0)).unwrap_or(2)),
            lock_time: LockTime::from_consensus(locktime),
            input: inputs
                .iter()
                .map(|(op, _, seq)| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: *seq,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        if opts.lock_unspents {
            let mut s = self.state();
            for (op, _, _) in &inputs {
                s.locked.insert(*op, false);
            }
        }
        Ok(Funded {
            tx,
            fee,
            change_pos,
            fee_rate: rate,
        })
    }

    /// Fills in what the wallet knows about each input of `psbt` (UTXOs, scripts,
    /// derivation paths) and, with `sign`, signs and finalizes; returns whether complete.
    pub fn fill_psbt(&self, psbt: &mut Psbt, sign: bool, finalize: bool) -> bool {
        let secp = Secp256k1::new();
        let mut keymap = BTreeMap::new();
        {
            let s = self.state();
            for i in 0..psbt.inputs.len() {
                let op = psbt.unsigned_tx.input[i].previous_output;
                if let Some(w) = s.txs.get(&op.txid) {
                    if psbt.inputs[i].non_witness_utxo.is_none() {
                        psbt.inputs[i].non_witness_utxo = Some(w.tx.clone());
                    }
                    if psbt.inputs[i].witness_utxo.is_none() {
                        if let Some(o) = w.tx.output.get(op.vout as usize) {
                            if is_witness_spend(&o.script_pubkey) {
                                psbt.inputs[i].witness_utxo = Some(o.clone());
                            }
                        }
                    }
                }
                let spk = match (
                    &psbt.inputs[i].witness_utxo,
                    &psbt.inputs[i].non_witness_utxo,
                ) {
                    (Some(o), _) => o.script_pubkey.clone(),
                    (None, Some(t)) => match t.output.get(op.vout as usize) {
                        Some(o) => o.script_pubkey.clone(),
                        None => continue,
                    },
                    _ => continue,
                };
                let Some((wd, idx)) = s.script_origin(&spk) else {
                    continue;
                };
                let Ok((desc, keys)) = keys::signing_descriptor(wd, idx, &spk) else {
                    continue;
                };
                let Ok(definite) = desc.at_derivation_index(idx) else {
                    continue;
                };
                if psbt.update_input_with_descriptor(i, &definite).is_err() {
                    continue;
                }
                if sign {
                    keymap.extend(keys);
                }
            }
        }
        if sign && !keymap.is_empty() {
            let _ = psbt.sign(&KeyMapWrapper::from(keymap), &secp);
        }
        if finalize {
            for i in 0..psbt.inputs.len() {
                let inp = &psbt.inputs[i];
                if inp.final_script_sig.is_some() || inp.final_script_witness.is_some() {
                    continue;
                }
                let _ = psbt.finalize_inp_mut(&secp, i);
            }
        }
        psbt.inputs
            .iter()
            .all(|i| i.final_script_sig.is_some() || i.final_script_witness.is_some())
    }

    /// Signs a transaction with the wallet's keys; returns it and whether it is complete.
    pub fn sign_transaction(&self, tx: &Transaction) -> (Transaction, bool) {
        self.sign_transaction_with(tx, &HashMap::new(), None)
    }

    /// [`Self::sign_transaction`] that also knows the outputs in `prevouts` (outputs the
    /// wallet has no transaction for: `signrawtransactionwithwallet`'s `prevtxs`), and
    /// signs with `sighash` instead of the default.
    pub fn sign_transaction_with(
        &self,
        tx: &Transaction,
        prevouts: &HashMap<OutPoint, TxOut>,
        sighash: Option<EcdsaSighashType>,
    ) -> (Transaction, bool) {
        let mut unsigned = tx.clone();
        for i in &mut unsigned.input {
            i.script_sig = ScriptBuf::new();
            i.witness = Witness::new();
        }
        let Ok(mut psbt) = Psbt::from_unsigned_tx(unsigned) else {
            return (tx.clone(), false);
        };
        {
            // The wallet's own record of an output wins over a caller's description.
            let s = self.state();
            for (input, txin) in psbt.inputs.iter_mut().zip(&tx.input) {
                let op = txin.previous_output;
                if !s.txs.contains_key(&op.txid) {
                    input.witness_utxo = prevouts.get(&op).cloned();
                }
                input.sighash_type = sighash.map(PsbtSighashType::from);
            }
        }
        let complete = self.fill_psbt(&mut psbt, true, true);
        let mut out = psbt.unsigned_tx.clone();
        for (i, inp) in psbt.inputs.iter().enumerate() {
            if let Some(s) = &inp.final_script_sig {
                out.input[i].script_sig = s.clone();
            } else {
                out.input[i].script_sig = tx.input[i].script_sig.clone();
            }
            if let Some(w) = &inp.final_script_witness {
                out.input[i].witness = w.clone();
            } else {
                out.input[i].witness = tx.input[i].witness.clone();
            }
        }
        (out, complete)
    }

    /// Core's `CommitTransaction`: stores the transaction, then broadcasts it. A transaction
    /// the mempool refuses stays in the wallet (as Core does) and the error is logged.
    pub fn commit(
        &self,
        tx: &Transaction,
        comment: Option<String>,
        comment_to: Option<String>,
        replaces: Option<Txid>,
    ) -> Result<(), String> {
        // -walletbroadcast=0: keep it in the wallet only, as Core does.
        let broadcast = self
            .chain
            .get_settings_list("walletbroadcast")
            .pop()
            .is_none_or(|v| v != "0");
        if broadcast {
            self.chain.prepare_broadcast();
        }
        self.add_own(tx, comment, comment_to, replaces)?;
        if !broadcast {
            return Ok(());
        }
        let txid = tx.compute_txid();
        match self.chain.broadcast_transaction(tx, None, true) {
            Ok(()) => {
                // A notification may already have moved it on; only an unsent one changes.
                self.update_state_if(
                    &txid,
                    |st| matches!(st, TxState::Inactive { .. }),
                    TxState::InMempool,
                );
            }
            Err(e) => {
                crate::log_info!(
                    "[{}] CommitTransaction(): Transaction cannot be broadcast immediately, {e}",
                    self.display_name()
                );
            }
        }
        Ok(())
    }

    /// Core's `ResubmitWalletTransactions`: offers every unconfirmed, unabandoned wallet
    /// transaction the wallet sent to the mempool again (after a restart or a crash the
    /// node's mempool may have lost them). Returns how many were accepted.
    pub fn resubmit(&self) -> usize {
        let mut pending: Vec<(u64, Transaction)> = {
            let s = self.state();
            s.txs
                .values()
                .filter(|w| {
                    matches!(w.state, TxState::Inactive { abandoned: false })
                        && s.debit(&w.tx) > 0
                        && !w.tx.is_coinbase()
                })
                .map(|w| (w.order, w.tx.clone()))
                .collect()
        };
        // Insertion order puts parents before children.
        pending.sort_by_key(|(o, _)| *o);
        let mut accepted = 0;
        for (_, tx) in pending {
            if self.chain.broadcast_transaction(&tx, None, true).is_ok() {
                let txid = tx.compute_txid();
                self.update_state_if(
                    &txid,
                    |st| matches!(st, TxState::Inactive { .. }),
                    TxState::InMempool,
                );
                accepted += 1;
            }
        }
        if accepted > 0 {
            crate::log_info!(
                "[{}] Resubmitted {accepted} wallet transaction(s) to the mempool",
                self.display_name()
            );
        }
        accepted
    }
}
