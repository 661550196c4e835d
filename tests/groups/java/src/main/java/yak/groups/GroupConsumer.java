package yak.groups;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A group consumer for the tests in tests/groups: it subscribes to one topic as a member of one
 * group and prints one JSON line per event on stdout, so the Python side can follow it:
 *
 * <pre>
 * {"event":"started"}
 * {"event":"assigned","partitions":[0,3]}      (also "revoked" and "lost")
 * {"event":"record","partition":0,"offset":12,"value":"..."}
 * {"event":"committed","offsets":{"0":13}}
 * {"event":"error","error":"FencedInstanceIdException","message":"..."}
 * {"event":"closed","records":42}
 * </pre>
 *
 * Each poll's records are printed, then committed synchronously, so after a clean stop every
 * printed record is committed. It stops on SIGTERM, after --max-records records, or after
 * --idle-timeout-ms without a record (0: never).
 *
 * Arguments: --bootstrap HOST:PORT --group G --topic T [--assignor range|roundrobin|sticky|
 * cooperative-sticky] [--instance-id ID] [--max-records N] [--idle-timeout-ms MS]
 * [--session-timeout-ms MS] [--heartbeat-ms MS] [--client-id ID]
 */
public final class GroupConsumer {
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    private GroupConsumer() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parse(argv);
        String topic = required(args, "topic");
        long maxRecords = Long.parseLong(args.getOrDefault("max-records", "0"));
        long idleTimeoutMs = Long.parseLong(args.getOrDefault("idle-timeout-ms", "0"));

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, required(args, "bootstrap"));
        props.put(ConsumerConfig.GROUP_ID_CONFIG, required(args, "group"));
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, args.getOrDefault("client-id", "yak-groups-java"));
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, args.getOrDefault("session-timeout-ms", "6000"));
        props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, args.getOrDefault("heartbeat-ms", "1000"));
        props.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, args.getOrDefault("max-poll-interval-ms", "30000"));
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, args.getOrDefault("max-poll-records", "50"));
        props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor(args.getOrDefault("assignor", "range")));
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        if (args.containsKey("instance-id")) {
            props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, args.get("instance-id"));
        }

        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            consumer.wakeup();
            try {
                closed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));

        long records = 0;
        int exitCode = 0;
        try {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    event("revoked", partitions);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    event("assigned", partitions);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    event("lost", partitions);
                }
            });
            OUT.println("{\"event\":\"started\"}");
            long lastRecordAt = System.currentTimeMillis();
            while (maxRecords == 0 || records < maxRecords) {
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(200));
                if (batch.isEmpty()) {
                    if (idleTimeoutMs > 0 && System.currentTimeMillis() - lastRecordAt >= idleTimeoutMs) {
                        break;
                    }
                    continue;
                }
                lastRecordAt = System.currentTimeMillis();
                Map<Integer, Long> next = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> record : batch) {
                    OUT.println("{\"event\":\"record\",\"partition\":" + record.partition() + ",\"offset\":"
                            + record.offset() + ",\"value\":" + quote(record.value()) + "}");
                    next.put(record.partition(), record.offset() + 1);
                    records++;
                }
                consumer.commitSync();
                OUT.println("{\"event\":\"committed\",\"offsets\":{" + next.entrySet().stream()
                        .map(e -> "\"" + e.getKey() + "\":" + e.getValue())
                        .collect(Collectors.joining(",")) + "}}");
            }
        } catch (WakeupException e) {
            // SIGTERM: fall through to a clean close.
        } catch (RuntimeException e) {
            OUT.println("{\"event\":\"error\",\"error\":" + quote(e.getClass().getSimpleName()) + ",\"message\":"
                    + quote(String.valueOf(e.getMessage())) + "}");
            exitCode = 3;
        } finally {
            try {
                consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(10)));
            } catch (RuntimeException e) {
                OUT.println("{\"event\":\"error\",\"error\":" + quote(e.getClass().getSimpleName()) + ",\"message\":"
                        + quote(String.valueOf(e.getMessage())) + "}");
            }
            OUT.println("{\"event\":\"closed\",\"records\":" + records + "}");
            closed.countDown();
        }
        if (exitCode != 0) {
            System.exit(exitCode);
        }
    }

    private static void event(String name, Collection<TopicPartition> partitions) {
        OUT.println("{\"event\":\"" + name + "\",\"partitions\":[" + partitions.stream()
                .map(tp -> Integer.toString(tp.partition())).sorted().collect(Collectors.joining(",")) + "]}");
    }

    private static String assignor(String name) {
        switch (name) {
            case "range":
                return RangeAssignor.class.getName();
            case "roundrobin":
                return RoundRobinAssignor.class.getName();
            case "sticky":
                return StickyAssignor.class.getName();
            case "cooperative-sticky":
                return CooperativeStickyAssignor.class.getName();
            default:
                throw new IllegalArgumentException("unknown assignor " + name);
        }
    }

    private static Map<String, String> parse(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                throw new IllegalArgumentException("expected --name value pairs, got " + String.join(" ", argv));
            }
            args.put(argv[i].substring(2), argv[++i]);
        }
        return args;
    }

    private static String required(Map<String, String> args, String name) {
        String value = args.get(name);
        if (value == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return value;
    }

    private static String quote(byte[] value) {
        return value == null ? "null" : quote(new String(value, StandardCharsets.UTF_8));
    }

    private static String quote(String value) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
