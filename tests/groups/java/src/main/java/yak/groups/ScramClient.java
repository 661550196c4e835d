package yak.groups;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client over SASL_SSL for tests/security: logs in with SCRAM, produces --records
 * records ("v0", "v1", …) to partition 0 of --topic with acks=all, reads them back from the
 * start, and prints one JSON line: {"produced":N,"consumed":N,"values":["v0",…]}.
 *
 * The password comes from the environment variable YAK_SCRAM_PASSWORD, never an argument. The
 * node's CA is a PEM file (--ca-file), which kafka-clients reads as a PEM trust store.
 *
 * Arguments: --bootstrap HOST:PORT --topic T --user U --ca-file PEM [--mechanism SCRAM-SHA-512]
 * [--records N] [--timeout-ms MS]
 */
public final class ScramClient {
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    private ScramClient() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parse(argv);
        String topic = required(args, "topic");
        int records = Integer.parseInt(args.getOrDefault("records", "20"));
        long timeoutMs = Long.parseLong(args.getOrDefault("timeout-ms", "60000"));
        String password = System.getenv("YAK_SCRAM_PASSWORD");
        if (password == null) {
            throw new IllegalArgumentException("set YAK_SCRAM_PASSWORD");
        }

        Properties common = new Properties();
        common.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, required(args, "bootstrap"));
        common.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_SSL");
        common.put(SaslConfigs.SASL_MECHANISM, args.getOrDefault("mechanism", "SCRAM-SHA-512"));
        common.put(SaslConfigs.SASL_JAAS_CONFIG, String.format(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\";",
            required(args, "user"), password));
        common.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
        common.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, required(args, "ca-file"));

        Properties producerProps = new Properties();
        producerProps.putAll(common);
        producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        int produced = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
            for (int i = 0; i < records; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i)).get();
                produced++;
            }
        }

        Properties consumerProps = new Properties();
        consumerProps.putAll(common);
        consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
            TopicPartition partition = new TopicPartition(topic, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (values.size() < records && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    values.add(record.value());
                }
            }
        }
        String list = values.stream().map(v -> "\"" + v + "\"").collect(Collectors.joining(","));
        OUT.printf("{\"produced\":%d,\"consumed\":%d,\"values\":[%s]}%n", produced, values.size(), list);
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
}
